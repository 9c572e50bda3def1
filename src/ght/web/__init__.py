"""Web edge: server-rendered French pages (Jinja2), static assets."""
