"""The FHIR R4 (4.0.1) search parameters the shared record supports, per resource type.

Names, types, element paths and reference targets follow the official SearchParameter registry
of R4; a FHIRPath expression is written here as the dotted element paths it reaches, one per
concrete choice-type element (`effective[x]` -> effectiveDateTime, effectivePeriod, ...).
`.where(resolve() is Patient)` becomes a `targets` restriction on the same path. Parameters whose
expression cannot be written so (composite, special, computed expressions) are left out: see
`LEFT_OUT`. Descriptions are French: they are shown in the CapabilityStatement.

_id and _lastUpdated are handled by the store itself and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKEN, STRING, DATE, REFERENCE, QUANTITY, URI = (
    "token", "string", "date", "reference", "quantity", "uri",
)


@dataclass(frozen=True)
class SearchParameter:
    name: str
    type: str  # token | string | date | reference | quantity | uri
    paths: tuple[str, ...]  # dotted element paths in the resource JSON
    targets: tuple[str, ...] = ()  # reference: allowed target types; () = any
    description: str = ""  # short, French


def _table(*params: SearchParameter) -> dict[str, SearchParameter]:
    return {p.name: p for p in params}


def tok(name: str, *paths: str, d: str) -> SearchParameter:
    return SearchParameter(name, TOKEN, paths, (), d)


def st(name: str, *paths: str, d: str) -> SearchParameter:
    return SearchParameter(name, STRING, paths, (), d)


def dt(name: str, *paths: str, d: str) -> SearchParameter:
    return SearchParameter(name, DATE, paths, (), d)


def qty(name: str, *paths: str, d: str) -> SearchParameter:
    return SearchParameter(name, QUANTITY, paths, (), d)


def uri(name: str, *paths: str, d: str) -> SearchParameter:
    return SearchParameter(name, URI, paths, (), d)


def ref(name: str, paths: str | tuple[str, ...], targets: tuple[str, ...] = (), *, d: str):
    paths = (paths,) if isinstance(paths, str) else paths
    return SearchParameter(name, REFERENCE, paths, targets, d)


# Reference target groups that recur in the registry.
_PATIENT = ("Patient",)
_PRACTITIONERS = ("Practitioner", "PractitionerRole")
_PERSONS = ("Practitioner", "Organization", "Patient", "PractitionerRole", "RelatedPerson")
_REQUESTER = _PERSONS + ("Device",)


def _address(prefix: str) -> tuple[SearchParameter, ...]:
    """address, address-city, ... over an Address element (Patient, Practitioner, ...)."""
    return (
        st("address", prefix, d="Adresse (tout élément)"),
        st("address-city", f"{prefix}.city", d="Ville de l'adresse"),
        st("address-country", f"{prefix}.country", d="Pays de l'adresse"),
        st("address-postalcode", f"{prefix}.postalCode", d="Code postal de l'adresse"),
        st("address-state", f"{prefix}.state", d="Région de l'adresse"),
        tok("address-use", f"{prefix}.use", d="Usage de l'adresse"),
    )


def _person_common() -> tuple[SearchParameter, ...]:
    """Parameters Patient and Practitioner share (name, telecom, address...)."""
    return (
        tok("active", "active", d="Fiche active"),
        *_address("address"),
        st("family", "name.family", d="Nom de famille"),
        tok("gender", "gender", d="Sexe administratif"),
        st("given", "name.given", d="Prénom"),
        tok("identifier", "identifier", d="Identifiant"),
        st("name", "name", d="Nom (toute partie)"),
        tok("telecom", "telecom", d="Coordonnée (téléphone, courriel...)"),
    )


def _patient_subject(subject_targets: tuple[str, ...], path: str = "subject"):
    """`patient` (the subject restricted to Patient) and `subject`."""
    return (
        ref("patient", path, _PATIENT, d="Patient concerné"),
        ref("subject", path, subject_targets, d="Sujet (patient, groupe...)"),
    )


SEARCH_PARAMETERS: dict[str, dict[str, SearchParameter]] = {
    "Patient": _table(
        *_person_common(),
        dt("birthdate", "birthDate", d="Date de naissance"),
        dt("death-date", "deceasedDateTime", d="Date de décès"),
        ref("general-practitioner", "generalPractitioner",
            ("Organization", "Practitioner", "PractitionerRole"), d="Médecin traitant"),
        tok("language", "communication.language", d="Langue parlée"),
        ref("link", "link.other", ("Patient", "RelatedPerson"), d="Patient lié"),
        ref("organization", "managingOrganization", ("Organization",),
            d="Organisation gestionnaire"),
    ),
    "Practitioner": _table(
        *_person_common(),
        tok("communication", "communication", d="Langue parlée"),
    ),
    "PractitionerRole": _table(
        tok("active", "active", d="Rôle actif"),
        dt("date", "period", d="Période du rôle"),
        ref("endpoint", "endpoint", ("Endpoint",), d="Point d'accès technique"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("location", "location", ("Location",), d="Lieu d'exercice"),
        ref("organization", "organization", ("Organization",), d="Organisation"),
        ref("practitioner", "practitioner", ("Practitioner",), d="Professionnel"),
        tok("role", "code", d="Rôle"),
        ref("service", "healthcareService", ("HealthcareService",), d="Service de soins"),
        tok("specialty", "specialty", d="Spécialité"),
        tok("telecom", "telecom", d="Coordonnée"),
    ),
    "Organization": _table(
        tok("active", "active", d="Organisation active"),
        *_address("address"),
        ref("endpoint", "endpoint", ("Endpoint",), d="Point d'accès technique"),
        tok("identifier", "identifier", d="Identifiant (FINESS, SIRET...)"),
        st("name", "name", "alias", d="Nom ou alias"),
        ref("partof", "partOf", ("Organization",), d="Organisation de rattachement"),
        tok("type", "type", d="Type d'organisation"),
    ),
    "Location": _table(
        *_address("address"),
        ref("endpoint", "endpoint", ("Endpoint",), d="Point d'accès technique"),
        tok("identifier", "identifier", d="Identifiant"),
        st("name", "name", "alias", d="Nom ou alias"),
        tok("operational-status", "operationalStatus", d="Statut opérationnel (lit)"),
        ref("organization", "managingOrganization", ("Organization",),
            d="Organisation responsable"),
        ref("partof", "partOf", ("Location",), d="Lieu parent"),
        tok("status", "status", d="Statut"),
        tok("type", "type", d="Type de lieu (unité fonctionnelle...)"),
    ),
    "Encounter": _table(
        ref("account", "account", ("Account",), d="Compte de facturation"),
        ref("appointment", "appointment", ("Appointment",), d="Rendez-vous"),
        ref("based-on", "basedOn", ("ServiceRequest",), d="Demande à l'origine"),
        tok("class", "class", d="Classe (hospitalisation, externe...)"),
        dt("date", "period", d="Période de la venue"),
        ref("diagnosis", "diagnosis.condition", ("Condition", "Procedure"), d="Diagnostic"),
        ref("episode-of-care", "episodeOfCare", ("EpisodeOfCare",), d="Épisode de soins"),
        tok("identifier", "identifier", d="Identifiant (numéro de venue)"),
        qty("length", "length", d="Durée"),
        ref("location", "location.location", ("Location",), d="Lieu (unité, chambre, lit)"),
        dt("location-period", "location.period", d="Période de présence dans un lieu"),
        ref("part-of", "partOf", ("Encounter",), d="Venue parente"),
        ref("participant", "participant.individual",
            ("Practitioner", "PractitionerRole", "RelatedPerson"), d="Participant"),
        tok("participant-type", "participant.type", d="Rôle du participant"),
        *_patient_subject(("Patient", "Group")),
        ref("practitioner", "participant.individual", ("Practitioner",),
            d="Professionnel participant"),
        tok("reason-code", "reasonCode", d="Motif (code)"),
        ref("reason-reference", "reasonReference",
            ("Condition", "Procedure", "Observation", "ImmunizationRecommendation"),
            d="Motif (référence)"),
        ref("service-provider", "serviceProvider", ("Organization",),
            d="Établissement responsable"),
        tok("special-arrangement", "hospitalization.specialArrangement",
            d="Dispositions particulières"),
        tok("status", "status", d="Statut"),
        tok("type", "type", d="Type de venue"),
    ),
    "EpisodeOfCare": _table(
        ref("care-manager", "careManager", ("Practitioner",), d="Coordinateur des soins"),
        ref("condition", "diagnosis.condition", ("Condition",), d="Pathologie"),
        dt("date", "period", d="Période de l'épisode"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("incoming-referral", "referralRequest", ("ServiceRequest",), d="Adressage"),
        ref("organization", "managingOrganization", ("Organization",),
            d="Organisation responsable"),
        ref("patient", "patient", _PATIENT, d="Patient concerné"),
        tok("status", "status", d="Statut"),
        tok("type", "type", d="Type d'épisode"),
    ),
    "Condition": _table(
        qty("abatement-age", "abatementAge", d="Âge à la rémission"),
        dt("abatement-date", "abatementDateTime", "abatementPeriod", d="Date de rémission"),
        st("abatement-string", "abatementString", d="Rémission (texte)"),
        ref("asserter", "asserter", ("Practitioner", "Patient", "PractitionerRole",
                                     "RelatedPerson"), d="Auteur de l'affirmation"),
        tok("body-site", "bodySite", d="Site anatomique"),
        tok("category", "category", d="Catégorie"),
        tok("clinical-status", "clinicalStatus", d="Statut clinique"),
        tok("code", "code", d="Code du problème ou diagnostic"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("evidence", "evidence.code", d="Manifestation (code)"),
        ref("evidence-detail", "evidence.detail", d="Élément de preuve"),
        tok("identifier", "identifier", d="Identifiant"),
        qty("onset-age", "onsetAge", d="Âge au début"),
        dt("onset-date", "onsetDateTime", "onsetPeriod", d="Date de début"),
        st("onset-info", "onsetString", d="Début (texte)"),
        *_patient_subject(("Patient", "Group")),
        dt("recorded-date", "recordedDate", d="Date d'enregistrement"),
        tok("severity", "severity", d="Sévérité"),
        tok("stage", "stage.summary", d="Stade"),
        tok("verification-status", "verificationStatus", d="Statut de vérification"),
    ),
    "Observation": _table(
        ref("based-on", "basedOn", ("CarePlan", "DeviceRequest", "ImmunizationRecommendation",
                                    "MedicationRequest", "NutritionOrder", "ServiceRequest"),
            d="Demande à l'origine"),
        tok("category", "category", d="Catégorie"),
        tok("code", "code", d="Code de l'observation (LOINC)"),
        tok("combo-code", "code", "component.code", d="Code de l'observation ou d'un composant"),
        tok("combo-data-absent-reason", "dataAbsentReason", "component.dataAbsentReason",
            d="Raison de l'absence de valeur (observation ou composant)"),
        tok("combo-value-concept", "valueCodeableConcept", "component.valueCodeableConcept",
            d="Valeur codée (observation ou composant)"),
        qty("combo-value-quantity", "valueQuantity", "component.valueQuantity",
            d="Valeur quantitative (observation ou composant)"),
        tok("component-code", "component.code", d="Code d'un composant"),
        tok("component-data-absent-reason", "component.dataAbsentReason",
            d="Raison de l'absence de valeur d'un composant"),
        tok("component-value-concept", "component.valueCodeableConcept",
            d="Valeur codée d'un composant"),
        qty("component-value-quantity", "component.valueQuantity",
            d="Valeur quantitative d'un composant"),
        tok("data-absent-reason", "dataAbsentReason", d="Raison de l'absence de valeur"),
        dt("date", "effectiveDateTime", "effectivePeriod", "effectiveTiming",
           "effectiveInstant", d="Date cliniquement pertinente"),
        ref("derived-from", "derivedFrom", ("DocumentReference", "ImagingStudy", "Media",
                                            "QuestionnaireResponse", "Observation",
                                            "MolecularSequence"), d="Dérivée de"),
        ref("device", "device", ("Device", "DeviceMetric"), d="Appareil de mesure"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        ref("focus", "focus", d="Objet de l'observation"),
        ref("has-member", "hasMember", ("Observation", "QuestionnaireResponse",
                                        "MolecularSequence"), d="Observation membre"),
        tok("identifier", "identifier", d="Identifiant"),
        tok("method", "method", d="Méthode"),
        ref("part-of", "partOf", ("MedicationAdministration", "MedicationDispense",
                                  "MedicationStatement", "Procedure", "Immunization",
                                  "ImagingStudy"), d="Fait partie de"),
        *_patient_subject(("Patient", "Group", "Device", "Location")),
        ref("performer", "performer", ("Practitioner", "Organization", "CareTeam", "Patient",
                                       "PractitionerRole", "RelatedPerson"), d="Exécutant"),
        ref("specimen", "specimen", ("Specimen",), d="Échantillon"),
        tok("status", "status", d="Statut"),
        tok("value-concept", "valueCodeableConcept", d="Valeur codée"),
        dt("value-date", "valueDateTime", "valuePeriod", d="Valeur date"),
        qty("value-quantity", "valueQuantity", d="Valeur quantitative"),
        st("value-string", "valueString", d="Valeur texte"),
    ),
    "DiagnosticReport": _table(
        ref("based-on", "basedOn", ("CarePlan", "ImmunizationRecommendation",
                                    "MedicationRequest", "NutritionOrder", "ServiceRequest"),
            d="Demande à l'origine"),
        tok("category", "category", d="Catégorie (laboratoire, imagerie...)"),
        tok("code", "code", d="Code du compte rendu (LOINC)"),
        tok("conclusion", "conclusionCode", d="Conclusion codée"),
        dt("date", "effectiveDateTime", "effectivePeriod", d="Date cliniquement pertinente"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        dt("issued", "issued", d="Date de publication"),
        ref("media", "media.link", ("Media",), d="Image clé"),
        *_patient_subject(("Patient", "Group", "Device", "Location")),
        ref("performer", "performer", ("Practitioner", "Organization", "CareTeam",
                                       "PractitionerRole"), d="Responsable du compte rendu"),
        ref("result", "result", ("Observation",), d="Résultat"),
        ref("results-interpreter", "resultsInterpreter",
            ("Practitioner", "Organization", "CareTeam", "PractitionerRole"),
            d="Interprète des résultats"),
        ref("specimen", "specimen", ("Specimen",), d="Échantillon"),
        tok("status", "status", d="Statut"),
    ),
    "ImagingStudy": _table(
        ref("basedon", "basedOn", ("Appointment", "AppointmentResponse", "CarePlan", "Task",
                                   "ServiceRequest"), d="Demande à l'origine"),
        tok("bodysite", "series.bodySite", d="Région anatomique"),
        tok("dicom-class", "series.instance.sopClass", d="Classe SOP DICOM"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        ref("endpoint", ("endpoint", "series.endpoint"), ("Endpoint",),
            d="Point d'accès DICOMweb (étude ou série)"),
        tok("identifier", "identifier", d="Identifiant (Study Instance UID, n° d'accès)"),
        tok("instance", "series.instance.uid", d="SOP Instance UID"),
        ref("interpreter", "interpreter", _PRACTITIONERS, d="Radiologue interprète"),
        tok("modality", "series.modality", d="Modalité"),
        *_patient_subject(("Patient", "Device", "Group")),
        ref("performer", "series.performer.actor",
            ("Practitioner", "Organization", "CareTeam", "Device", "Patient",
             "PractitionerRole", "RelatedPerson"), d="Exécutant"),
        tok("reason", "reasonCode", d="Motif"),
        ref("referrer", "referrer", _PRACTITIONERS, d="Médecin demandeur"),
        tok("series", "series.uid", d="Series Instance UID"),
        dt("started", "started", d="Début de l'examen"),
        tok("status", "status", d="Statut"),
    ),
    "ServiceRequest": _table(
        dt("authored", "authoredOn", d="Date de la demande"),
        ref("based-on", "basedOn", ("CarePlan", "ServiceRequest", "MedicationRequest"),
            d="Demande à l'origine"),
        tok("body-site", "bodySite", d="Site anatomique"),
        tok("category", "category", d="Catégorie"),
        tok("code", "code", d="Acte ou examen demandé"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("instantiates-canonical", "instantiatesCanonical",
            ("ActivityDefinition", "PlanDefinition"), d="Protocole FHIR appliqué"),
        uri("instantiates-uri", "instantiatesUri", d="Protocole externe appliqué"),
        tok("intent", "intent", d="Intention"),
        dt("occurrence", "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming",
           d="Date prévue"),
        *_patient_subject(("Patient", "Group", "Location", "Device")),
        ref("performer", "performer",
            ("Practitioner", "Organization", "CareTeam", "HealthcareService", "Patient",
             "Device", "PractitionerRole", "RelatedPerson"), d="Exécutant souhaité"),
        tok("performer-type", "performerType", d="Type d'exécutant"),
        tok("priority", "priority", d="Priorité"),
        ref("replaces", "replaces", ("ServiceRequest",), d="Demande remplacée"),
        ref("requester", "requester", _REQUESTER, d="Demandeur"),
        tok("requisition", "requisition", d="Identifiant de la demande groupée"),
        ref("specimen", "specimen", ("Specimen",), d="Échantillon"),
        tok("status", "status", d="Statut"),
    ),
    "Procedure": _table(
        ref("based-on", "basedOn", ("CarePlan", "ServiceRequest"), d="Demande à l'origine"),
        tok("category", "category", d="Catégorie"),
        tok("code", "code", d="Code de l'acte"),
        dt("date", "performedDateTime", "performedPeriod", d="Date de réalisation"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("instantiates-canonical", "instantiatesCanonical",
            ("PlanDefinition", "ActivityDefinition", "Measure", "OperationDefinition",
             "Questionnaire"), d="Protocole FHIR appliqué"),
        uri("instantiates-uri", "instantiatesUri", d="Protocole externe appliqué"),
        ref("location", "location", ("Location",), d="Lieu de réalisation"),
        ref("part-of", "partOf", ("Procedure", "Observation", "MedicationAdministration"),
            d="Fait partie de"),
        *_patient_subject(("Patient", "Group")),
        ref("performer", "performer.actor",
            ("Practitioner", "Organization", "Device", "Patient", "PractitionerRole",
             "RelatedPerson"), d="Exécutant"),
        tok("reason-code", "reasonCode", d="Motif (code)"),
        ref("reason-reference", "reasonReference",
            ("Condition", "Observation", "Procedure", "DiagnosticReport",
             "DocumentReference"), d="Motif (référence)"),
        tok("status", "status", d="Statut"),
    ),
    "MedicationRequest": _table(
        dt("authoredon", "authoredOn", d="Date de prescription"),
        tok("category", "category", d="Catégorie"),
        tok("code", "medicationCodeableConcept", d="Code du médicament"),
        dt("date", "dosageInstruction.timing.event", d="Date d'administration prévue"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("intended-dispenser", "dispenseRequest.performer", ("Organization",),
            d="Dispensateur prévu"),
        ref("intended-performer", "performer",
            ("Practitioner", "Organization", "CareTeam", "Device", "Patient",
             "PractitionerRole", "RelatedPerson"), d="Administrateur prévu"),
        tok("intended-performertype", "performerType", d="Type d'administrateur prévu"),
        tok("intent", "intent", d="Intention"),
        ref("medication", "medicationReference", ("Medication",), d="Médicament (référence)"),
        *_patient_subject(("Patient", "Group")),
        tok("priority", "priority", d="Priorité"),
        ref("requester", "requester", _REQUESTER, d="Prescripteur"),
        tok("status", "status", d="Statut"),
    ),
    "AllergyIntolerance": _table(
        ref("asserter", "asserter", ("Patient", "RelatedPerson", "Practitioner",
                                     "PractitionerRole"), d="Auteur de l'affirmation"),
        tok("category", "category", d="Catégorie"),
        tok("clinical-status", "clinicalStatus", d="Statut clinique"),
        tok("code", "code", "reaction.substance", d="Substance ou allergène"),
        tok("criticality", "criticality", d="Criticité"),
        dt("date", "recordedDate", d="Date d'enregistrement"),
        tok("identifier", "identifier", d="Identifiant"),
        dt("last-date", "lastOccurrence", d="Dernière réaction"),
        tok("manifestation", "reaction.manifestation", d="Manifestation"),
        dt("onset", "reaction.onset", d="Début de la réaction"),
        ref("patient", "patient", _PATIENT, d="Patient concerné"),
        ref("recorder", "recorder", ("Practitioner", "Patient", "RelatedPerson",
                                     "PractitionerRole"), d="Auteur de l'enregistrement"),
        tok("route", "reaction.exposureRoute", d="Voie d'exposition"),
        tok("severity", "reaction.severity", d="Sévérité de la réaction"),
        tok("type", "type", d="Allergie ou intolérance"),
        tok("verification-status", "verificationStatus", d="Statut de vérification"),
    ),
    "DocumentReference": _table(
        ref("authenticator", "authenticator", ("Practitioner", "Organization",
                                               "PractitionerRole"), d="Valideur"),
        ref("author", "author", _REQUESTER, d="Auteur"),
        tok("category", "category", d="Catégorie"),
        tok("contenttype", "content.attachment.contentType", d="Type MIME du contenu"),
        ref("custodian", "custodian", ("Organization",), d="Organisation dépositaire"),
        dt("date", "date", d="Date de création de la référence"),
        st("description", "description", d="Description"),
        ref("encounter", "context.encounter", ("EpisodeOfCare", "Encounter"),
            d="Venue ou épisode"),
        tok("event", "context.event", d="Acte documenté"),
        tok("facility", "context.facilityType", d="Type d'établissement"),
        tok("format", "content.format", d="Format du contenu"),
        tok("identifier", "masterIdentifier", "identifier", d="Identifiant"),
        tok("language", "content.attachment.language", d="Langue du contenu"),
        uri("location", "content.attachment.url", d="Adresse du contenu"),
        *_patient_subject(("Practitioner", "Group", "Device", "Patient")),
        dt("period", "context.period", d="Période documentée"),
        ref("related", "context.related", d="Ressource liée"),
        ref("relatesto", "relatesTo.target", ("DocumentReference",), d="Document lié"),
        tok("relation", "relatesTo.code", d="Type de relation"),
        tok("security-label", "securityLabel", d="Étiquette de sécurité"),
        tok("setting", "context.practiceSetting", d="Spécialité"),
        tok("status", "status", d="Statut"),
        tok("type", "type", d="Type de document (LOINC)"),
    ),
    "Binary": _table(),  # R4 defines no search parameter of its own for Binary
    "CareTeam": _table(
        tok("category", "category", d="Catégorie"),
        dt("date", "period", d="Période"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("participant", "participant.member",
            ("Practitioner", "Organization", "Patient", "PractitionerRole", "CareTeam",
             "RelatedPerson"), d="Membre"),
        *_patient_subject(("Patient", "Group")),
        tok("status", "status", d="Statut"),
    ),
    "CarePlan": _table(
        tok("activity-code", "activity.detail.code", d="Code d'une activité"),
        dt("activity-date", "activity.detail.scheduledTiming",
           "activity.detail.scheduledPeriod", d="Date prévue d'une activité"),
        ref("activity-reference", "activity.reference",
            ("Appointment", "MedicationRequest", "Task", "NutritionOrder", "RequestGroup",
             "VisionPrescription", "DeviceRequest", "ServiceRequest", "CommunicationRequest"),
            d="Activité (référence)"),
        ref("based-on", "basedOn", ("CarePlan",), d="Plan à l'origine"),
        ref("care-team", "careTeam", ("CareTeam",), d="Équipe de soins"),
        tok("category", "category", d="Catégorie"),
        ref("condition", "addresses", ("Condition",), d="Problème traité"),
        dt("date", "period", d="Période du plan"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        ref("goal", "goal", ("Goal",), d="Objectif"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("instantiates-canonical", "instantiatesCanonical",
            ("Questionnaire", "Measure", "PlanDefinition", "OperationDefinition"),
            d="Protocole FHIR appliqué"),
        uri("instantiates-uri", "instantiatesUri", d="Protocole externe appliqué"),
        tok("intent", "intent", d="Intention"),
        ref("part-of", "partOf", ("CarePlan",), d="Fait partie de"),
        *_patient_subject(("Patient", "Group")),
        ref("performer", "activity.detail.performer",
            ("Practitioner", "Organization", "CareTeam", "Patient", "HealthcareService",
             "PractitionerRole", "RelatedPerson", "Device"), d="Exécutant d'une activité"),
        ref("replaces", "replaces", ("CarePlan",), d="Plan remplacé"),
        tok("status", "status", d="Statut"),
    ),
    "Task": _table(
        dt("authored-on", "authoredOn", d="Date de création"),
        ref("based-on", "basedOn", d="Demande à l'origine"),
        tok("business-status", "businessStatus", d="Statut métier"),
        tok("code", "code", d="Type de tâche"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        ref("focus", "focus", d="Objet de la tâche"),
        tok("group-identifier", "groupIdentifier", d="Identifiant de groupe"),
        tok("identifier", "identifier", d="Identifiant"),
        tok("intent", "intent", d="Intention"),
        dt("modified", "lastModified", d="Dernière modification"),
        ref("owner", "owner",
            ("Practitioner", "Organization", "CareTeam", "Device", "Patient",
             "HealthcareService", "PractitionerRole", "RelatedPerson"), d="Responsable"),
        ref("part-of", "partOf", ("Task",), d="Tâche parente"),
        *_patient_subject((), path="for"),
        tok("performer", "performerType", d="Type d'exécutant"),
        dt("period", "executionPeriod", d="Période d'exécution"),
        tok("priority", "priority", d="Priorité"),
        ref("requester", "requester", _REQUESTER, d="Demandeur"),
        tok("status", "status", d="Statut"),
    ),
    "Communication": _table(
        ref("based-on", "basedOn", d="Demande à l'origine"),
        tok("category", "category", d="Catégorie"),
        ref("encounter", "encounter", ("Encounter",), d="Venue"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("instantiates-canonical", "instantiatesCanonical",
            ("PlanDefinition", "ActivityDefinition", "Measure", "OperationDefinition",
             "Questionnaire"), d="Protocole FHIR appliqué"),
        uri("instantiates-uri", "instantiatesUri", d="Protocole externe appliqué"),
        tok("medium", "medium", d="Canal"),
        ref("part-of", "partOf", d="Fait partie de"),
        *_patient_subject(("Patient", "Group")),
        dt("received", "received", d="Date de réception"),
        ref("recipient", "recipient",
            ("Device", "Organization", "Patient", "Practitioner", "PractitionerRole", "Group",
             "CareTeam", "HealthcareService", "RelatedPerson"), d="Destinataire"),
        ref("sender", "sender",
            ("Device", "Organization", "Patient", "Practitioner", "PractitionerRole",
             "HealthcareService", "RelatedPerson"), d="Expéditeur"),
        dt("sent", "sent", d="Date d'envoi"),
        tok("status", "status", d="Statut"),
    ),
    "Consent": _table(
        tok("action", "provision.action", d="Action couverte"),
        ref("actor", "provision.actor.reference",
            ("Practitioner", "Group", "Organization", "CareTeam", "Device", "Patient",
             "PractitionerRole", "RelatedPerson"), d="Acteur de la règle"),
        tok("category", "category", d="Catégorie"),
        ref("consentor", "performer", _PERSONS, d="Personne qui consent"),
        ref("data", "provision.data.reference", d="Donnée concernée"),
        dt("date", "dateTime", d="Date du consentement"),
        tok("identifier", "identifier", d="Identifiant"),
        ref("organization", "organization", ("Organization",), d="Organisation dépositaire"),
        ref("patient", "patient", _PATIENT, d="Patient concerné"),
        dt("period", "provision.period", d="Période de validité de la règle"),
        tok("purpose", "provision.purpose", d="Finalité"),
        tok("scope", "scope", d="Portée"),
        tok("security-label", "provision.securityLabel", d="Étiquette de sécurité"),
        ref("source-reference", "sourceReference",
            ("Consent", "Contract", "QuestionnaireResponse", "DocumentReference"),
            d="Document source"),
        tok("status", "status", d="Statut"),
    ),
    "Endpoint": _table(
        tok("connection-type", "connectionType", d="Protocole (dicom-wado-rs, hl7-fhir-rest...)"),
        tok("identifier", "identifier", d="Identifiant"),
        st("name", "name", d="Nom"),
        ref("organization", "managingOrganization", ("Organization",), d="Organisation gestionnaire"),
        tok("payload-type", "payloadType", d="Type de contenu"),
        tok("status", "status", d="Statut"),
    ),
    "AuditEvent": _table(
        tok("action", "action", d="Action (C, R, U, D, E)"),
        st("address", "agent.network.address", d="Adresse réseau de l'agent"),
        ref("agent", "agent.who", _REQUESTER, d="Agent"),
        st("agent-name", "agent.name", d="Nom de l'agent"),
        tok("agent-role", "agent.role", d="Rôle de l'agent"),
        tok("altid", "agent.altId", d="Identifiant alternatif de l'agent"),
        dt("date", "recorded", d="Date d'enregistrement de l'événement"),
        ref("entity", "entity.what", d="Ressource concernée"),
        st("entity-name", "entity.name", d="Nom de l'entité"),
        tok("entity-role", "entity.role", d="Rôle de l'entité"),
        tok("entity-type", "entity.type", d="Type de l'entité"),
        tok("outcome", "outcome", d="Résultat"),
        ref("patient", ("agent.who", "entity.what"), _PATIENT, d="Patient concerné"),
        uri("policy", "agent.policy", d="Politique ayant autorisé l'événement"),
        tok("site", "source.site", d="Site source"),
        ref("source", "source.observer",
            ("Practitioner", "Organization", "Device", "Patient", "PractitionerRole",
             "RelatedPerson"), d="Source de l'événement"),
        tok("subtype", "subtype", d="Sous-type"),
        tok("type", "type", d="Type d'événement"),
    ),
}

# Parameters of every resource type, read from `meta`.
COMMON: dict[str, SearchParameter] = _table(
    tok("_tag", "meta.tag", d="Étiquette"),
    uri("_profile", "meta.profile", d="Profil revendiqué"),
    tok("_security", "meta.security", d="Étiquette de sécurité"),
)

# Registry parameters of the types above that are deliberately not supported, and why.
LEFT_OUT: dict[str, str] = {
    "Patient.deceased, Patient/Practitioner.email, .phone":
        "computed expressions (exists(), where(system=...)): use `telecom` / `death-date`",
    "Patient/Practitioner/Organization.phonetic": "no phonetic algorithm in the store",
    "Location.near": "special type (geographic)",
    "Observation.code-value-*, combo-code-value-*, component-code-value-*; "
    "DocumentReference.relationship": "composite type",
    "Observation.value-quantity / combo-value-quantity on SampledData":
        "only Quantity values are indexed",
    "Condition.onset-age / abatement-age on Range": "only Age values are indexed",
}
