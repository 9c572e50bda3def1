"""HTTP edge: the FastAPI application, its middleware and the JSON API routers."""
