"""The FHIR API under /fhir: its routers, its error handlers and `metadata`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from ght.config import load_settings
from ght.interop.fhir import bulk_routes, bundles, everything, patient_routes, resource_routes
from ght.interop.fhir.capability import capability_statement
from ght.interop.fhir.http import PREFIX, RejectNulInQuery, install_error_handlers, respond
from ght.interop.outbound import PublishSettings

metadata_router = APIRouter(prefix=PREFIX, tags=["FHIR"])


@metadata_router.get("/metadata", summary="CapabilityStatement du serveur FHIR")
def metadata(request: Request):
    base = str(request.base_url).rstrip("/") + PREFIX
    return respond(capability_statement(base, request.app.state.ght_oid))


def install(app: FastAPI) -> None:
    # The GHT's OID names the GHT patient id system, as in what the publisher sends.
    app.state.ght_oid = load_settings(PublishSettings).ght_oid
    install_error_handlers(app)
    app.add_middleware(RejectNulInQuery)
    app.include_router(resource_routes.hot_router)  # first: the API's most frequent requests
    app.include_router(metadata_router)
    app.include_router(bundles.router)
    app.include_router(everything.router)
    bulk_routes.install(app)  # before the Patient and generic routes: /Patient/$export, /$export
    app.include_router(patient_routes.router)  # before the generic routes: Patient is the identity server's
    app.include_router(resource_routes.router)
