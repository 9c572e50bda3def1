"""RNIV normalisation of names, given names, phones and sexes."""

import pytest

from ght.identity.normalise import (
    given_names_key, given_names_list, match_key, phone_key, rniv_name, sex_code, without_particles,
)


@pytest.mark.parametrize("raw, rniv, key", [
    ("Le Goff", "LE GOFF", "LEGOFF"),
    ("le-goff", "LE-GOFF", "LEGOFF"),
    ("d’Almeida", "D'ALMEIDA", "DALMEIDA"),
    ("D ' ALMEIDA", "D'ALMEIDA", "DALMEIDA"),
    ("Lefèvre", "LEFEVRE", "LEFEVRE"),
    ("Cœur", "COEUR", "COEUR"),
    ("Lætitia", "LAETITIA", "LAETITIA"),
    ("  Saint  Étienne ", "SAINT ETIENNE", "SAINTETIENNE"),
    ("St-Étienne", "SAINT-ETIENNE", "SAINTETIENNE"),
    ("Ste Marie", "SAINTE MARIE", "SAINTEMARIE"),
    ("Müller–Lüdenscheidt", "MULLER-LUDENSCHEIDT", "MULLERLUDENSCHEIDT"),
    ("N'Diaye", "N'DIAYE", "NDIAYE"),
    ("", "", ""),
    (None, "", ""),
])
def test_rniv_spelling_and_match_key(raw, rniv, key):
    assert rniv_name(raw) == rniv
    assert match_key(raw) == key


@pytest.mark.parametrize("raw, key", [
    ("De la Fontaine", "FONTAINE"),
    ("DE LA FONTAINE", "FONTAINE"),
    ("Delafontaine", "DELAFONTAINE"),  # glued: not a particle any more
    ("d'Almeida", "ALMEIDA"),
    ("Le Goff", "GOFF"),
    ("Van der Berg", "BERG"),
    ("Du", "DU"),  # a name made only of a particle stays whole
])
def test_leading_particles_removed(raw, key):
    assert without_particles(raw) == key


def test_given_names_keep_compounds_and_glue_for_comparison():
    assert given_names_list("Marie-Hélène, Anne  Sophie") == ["MARIE-HELENE", "ANNE", "SOPHIE"]
    assert given_names_key("Jean-Pierre Marie") == given_names_key("JEAN PIERRE MARIE") == "JEANPIERREMARIE"
    assert given_names_list("") == []


@pytest.mark.parametrize("raw, key", [
    ("06 12 34 56 78", "612345678"), ("+33 6 12 34 56 78", "612345678"),
    ("0033612345678", "612345678"), ("06.12.34.56.78", "612345678"), ("", ""),
])
def test_phone_key(raw, key):
    assert phone_key(raw) == key


def test_sex_codes():
    assert [sex_code(v) for v in ("M", "h", "F", "2", "1", "U", "", None, "X")] == ["M", "M", "F", "F", "M", "U", "U", "U", "U"]


def test_the_ascii_shortcut_spells_names_as_the_full_path_does():
    """rniv_name skips the Unicode decomposition for ASCII input: same result, every character."""
    import string
    import unicodedata

    from ght.identity import normalise

    def full(value):
        text = value.translate(normalise._LIGATURES).translate(normalise._APOSTROPHES).translate(normalise._HYPHENS)
        text = unicodedata.normalize("NFKD", text)
        return "".join(c for c in text if not unicodedata.combining(c)).upper()

    samples = [string.printable, "st_jean`s", "o'neil-de la fontaine", "\x00\x7f"] + list(string.printable)
    for value in samples:
        assert value.translate(normalise._ASCII_MARKS).upper() == full(value)
