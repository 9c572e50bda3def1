"""Access under art. L1110-4 of the Code de la santé publique: who may see or write what of a
patient's record (care team, the patient's will, break-the-glass, roles, sensitivity), decided
in one place (`policy.decide`) and enforced by every door through `gate.Gate`, which also
appends the trace entry of every access and every refusal (ght.audit)."""
