"""Clinical content: lab analytes (LOINC, UCUM, reference ranges), panels, imaging exams,
and the French wording of reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Analyte:
    loinc: str
    display: str  # LOINC long common name
    unit: str  # UCUM
    low_m: float | None
    high_m: float | None
    low_f: float | None
    high_f: float | None
    decimals: int
    label_fr: str


# French laboratories report mass concentrations in g/L or mg/L: the LOINC codes are the
# [Mass/volume] ones with those units, and the [Moles/volume] ones for µmol/L or mmol/L.
ANALYTES: dict[str, Analyte] = {a.loinc: a for a in (
    Analyte("718-7", "Hemoglobin [Mass/volume] in Blood",
            "g/dL", 13.0, 17.0, 12.0, 16.0, 1, "Hémoglobine"),
    Analyte("6690-2", "Leukocytes [#/volume] in Blood by Automated count",
            "10*3/uL", 4.0, 10.0, 4.0, 10.0, 1, "Leucocytes"),
    Analyte("777-3", "Platelets [#/volume] in Blood by Automated count",
            "10*3/uL", 150.0, 400.0, 150.0, 400.0, 0, "Plaquettes"),
    Analyte("2951-2", "Sodium [Moles/volume] in Serum or Plasma",
            "mmol/L", 136.0, 145.0, 136.0, 145.0, 0, "Sodium"),
    Analyte("2823-3", "Potassium [Moles/volume] in Serum or Plasma",
            "mmol/L", 3.5, 5.1, 3.5, 5.1, 1, "Potassium"),
    Analyte("2345-7", "Glucose [Mass/volume] in Serum or Plasma",
            "g/L", 0.70, 1.10, 0.70, 1.10, 2, "Glycémie"),
    Analyte("2160-0", "Creatinine [Mass/volume] in Serum or Plasma",
            "mg/L", 7.0, 12.0, 5.0, 10.0, 1, "Créatinine"),
    Analyte("62238-1", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in "
            "Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI)",
            "mL/min/{1.73_m2}", 60.0, None, 60.0, None, 0, "DFG estimé (CKD-EPI)"),
    Analyte("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma",
            "mg/L", None, 5.0, None, 5.0, 1, "CRP"),
    Analyte("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood",
            "%", 4.0, 6.0, 4.0, 6.0, 1, "HbA1c"),
    Analyte("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L", None, 45.0, None, 35.0, 0, "ALAT"),
    Analyte("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L", None, 35.0, None, 35.0, 0, "ASAT"),
    Analyte("2324-2", "Gamma glutamyl transferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L", None, 55.0, None, 38.0, 0, "Gamma-GT"),
    Analyte("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L", 40.0, 130.0, 35.0, 105.0, 0, "Phosphatases alcalines"),
    Analyte("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma",
            "umol/L", None, 21.0, None, 21.0, 0, "Bilirubine totale"),
)}


@dataclass(frozen=True, slots=True)
class Panel:
    loinc: str
    display: str
    label_fr: str
    analytes: tuple[str, ...]


# Panels as requested in practice, trimmed to the analytes followed here.
# Panels as requested in practice, trimmed to the analytes followed here.
PANEL_CBC = Panel("58410-2", "CBC panel - Blood by Automated count", "Numération formule sanguine",
                  ("718-7", "6690-2", "777-3"))
PANEL_BMP = Panel("51990-0", "Basic metabolic panel - Blood", "Ionogramme sanguin, glycémie, créatinine",
                  ("2951-2", "2823-3", "2345-7", "2160-0", "62238-1", "1988-5"))
PANEL_LIVER = Panel("24325-3", "Hepatic function panel - Serum or Plasma", "Bilan hépatique",
                    ("1742-6", "1920-8", "2324-2", "6768-6", "14631-6"))
PANEL_DIABETES = Panel("11502-2", "Laboratory report", "Suivi du diabète",
                       ("4548-4", "2345-7", "2160-0", "62238-1"))


@dataclass(frozen=True, slots=True)
class ImagingExam:
    label_fr: str
    modality: str  # DICOM modality code
    modality_display: str
    body_snomed: str
    body_display: str
    series: tuple[int, int]
    instances_per_series: tuple[int, int]
    normal_fr: str
    abnormal_fr: tuple[str, ...]


_CR = "Computed Radiography"
EXAMS: dict[str, ImagingExam] = {e.label_fr: e for e in (
    ImagingExam("Radiographie thoracique", "CR", _CR, "51185008", "Thoracic structure", (1, 1), (1, 2),
                "Pas d'anomalie pleuro-parenchymateuse décelable.",
                ("Opacité alvéolaire basale droite évoquant un foyer infectieux.",
                 "Cardiomégalie modérée, discret épanchement pleural gauche.")),
    ImagingExam("Radiographie du genou", "CR", _CR, "72696002", "Knee region structure", (1, 1), (2, 3),
                "Pas de lésion osseuse traumatique visible.",
                ("Fracture non déplacée du plateau tibial externe.",
                 "Pincement fémoro-tibial interne d'allure arthrosique.")),
    ImagingExam("Scanner cérébral sans injection", "CT", "Computed Tomography", "69536005", "Head structure",
                (2, 3), (120, 300), "Pas d'hémorragie intracrânienne, pas d'effet de masse.",
                ("Hypodensité ischémique récente du territoire sylvien gauche.",
                 "Leucopathie vasculaire périventriculaire, sans lésion aiguë.")),
    ImagingExam("Scanner thoraco-abdomino-pelvien", "CT", "Computed Tomography", "12921003", "Pelvis structure",
                (3, 4), (250, 600), "Pas d'anomalie significative thoraco-abdomino-pelvienne.",
                ("Nodule pulmonaire lobaire supérieur droit de 8 mm, à contrôler.",
                 "Diverticulite sigmoïdienne non compliquée.")),
    ImagingExam("IRM cérébrale", "MR", "Magnetic Resonance", "69536005", "Head structure", (5, 8), (25, 80),
                "IRM cérébrale dans les limites de la normale pour l'âge.",
                ("Lésion ischémique constituée capsulo-lenticulaire droite.",
                 "Méningiome frontal droit de 15 mm sans effet de masse.")),
    ImagingExam("Échographie abdominale", "US", "Ultrasound", "113345001", "Abdominal structure", (1, 1),
                (8, 30), "Foie, voies biliaires, pancréas, reins et rate sans particularité.",
                ("Lithiase vésiculaire sans signe de cholécystite.",
                 "Stéatose hépatique diffuse.")),
    ImagingExam("Mammographie bilatérale", "MG", "Mammography", "76752008", "Breast structure", (1, 1),
                (4, 4), "Classification ACR 1 bilatérale.",
                ("Foyer de microcalcifications du quadrant supéro-externe gauche, ACR 4.",
                 "Kyste simple du sein droit, ACR 2.")),
)}

EMERGENCY_EXAMS = ("Radiographie thoracique", "Radiographie du genou", "Scanner cérébral sans injection")
INPATIENT_EXAMS = ("Radiographie thoracique", "Scanner thoraco-abdomino-pelvien", "IRM cérébrale",
                   "Échographie abdominale")
OUTPATIENT_EXAMS = ("Échographie abdominale", "IRM cérébrale", "Radiographie du genou")

# Reasons for stays by specialty: (motif, évolution, conclusion).
_GENERIC = (
    ("Altération de l'état général", "Bilan étiologique sans particularité, réalimentation progressive.",
     "Altération de l'état général d'origine multifactorielle."),
    ("Chute à domicile", "Pas de lésion traumatique, kinésithérapie de reprise de la marche.",
     "Chute mécanique sans gravité."),
)
MOTIFS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "Cardiologie": (
        ("Douleur thoracique", "Troponine négative, épreuve d'effort sans anomalie.",
         "Douleur thoracique non coronarienne."),
        ("Décompensation cardiaque", "Amélioration sous diurétiques, poids de sortie stable.",
         "Insuffisance cardiaque à fraction d'éjection altérée décompensée."),
        ("Fibrillation atriale", "Ralentissement sous bêtabloquant, anticoagulation introduite.",
         "Fibrillation atriale paroxystique."),
    ),
    "Pneumologie": (
        ("Dyspnée fébrile", "Apyrexie après 48 heures d'antibiothérapie.", "Pneumopathie communautaire."),
        ("Exacerbation de BPCO", "Amélioration sous bronchodilatateurs et corticoïdes.",
         "Exacerbation de BPCO sans critère de gravité."),
    ),
    "Gastro-entérologie": (
        ("Douleurs abdominales", "Évolution favorable sous traitement symptomatique.",
         "Colique hépatique sur lithiase vésiculaire."),
        ("Hémorragie digestive", "Fibroscopie : ulcère bulbaire traité par voie endoscopique.",
         "Ulcère bulbaire hémorragique."),
    ),
    "Neurologie": (
        ("Déficit moteur brutal", "Récupération partielle, rééducation débutée.",
         "Accident vasculaire cérébral ischémique."),
        ("Crise convulsive", "Pas de récidive sous traitement antiépileptique.", "Épilepsie focale."),
    ),
    "Néphrologie": (
        ("Insuffisance rénale aiguë", "Reprise de la diurèse après réhydratation.",
         "Insuffisance rénale aiguë fonctionnelle."),
    ),
    "Endocrinologie": (
        ("Déséquilibre glycémique", "Adaptation de l'insulinothérapie, éducation thérapeutique.",
         "Diabète de type 2 déséquilibré."),
    ),
    "Chirurgie orthopédique": (
        ("Fracture de l'extrémité supérieure du fémur", "Ostéosynthèse, mise en charge autorisée.",
         "Fracture du col fémoral opérée."),
        ("Gonarthrose", "Prothèse totale de genou, suites simples.", "Arthroplastie totale du genou."),
    ),
    "Chirurgie viscérale": (
        ("Appendicite aiguë", "Appendicectomie cœlioscopique, suites simples.", "Appendicite aiguë opérée."),
        ("Cholécystite", "Cholécystectomie, reprise du transit à J2.", "Cholécystite lithiasique opérée."),
    ),
    "Gynécologie-obstétrique": (
        ("Accouchement à terme", "Accouchement voie basse, suites de couches simples.",
         "Accouchement eutocique."),
    ),
    "Pédiatrie": (
        ("Bronchiolite", "Désobstruction rhinopharyngée, alimentation fractionnée.",
         "Bronchiolite aiguë du nourrisson."),
        ("Gastro-entérite", "Réhydratation orale bien tolérée.", "Gastro-entérite aiguë virale."),
    ),
    "Gériatrie": _GENERIC + (
        ("Confusion aiguë", "Régression sous traitement de l'infection urinaire.",
         "Syndrome confusionnel sur infection urinaire."),
    ),
    "Psychiatrie": (
        ("Épisode dépressif", "Amélioration thymique sous antidépresseur.",
         "Épisode dépressif caractérisé."),
        ("Décompensation délirante", "Réduction de la symptomatologie sous antipsychotique.",
         "Trouble schizo-affectif décompensé."),
    ),
    "Médecine d'urgence": (
        ("Traumatisme de la cheville", "Radiographie sans fracture, strapping.", "Entorse bénigne de cheville."),
        ("Malaise", "Bilan sans anomalie, surveillance de quelques heures.", "Malaise vagal."),
        ("Plaie de la main", "Suture, vaccination antitétanique à jour.", "Plaie simple de la main."),
    ),
}


def motifs_for(specialty: str) -> tuple[tuple[str, str, str], ...]:
    return MOTIFS.get(specialty, _GENERIC)
