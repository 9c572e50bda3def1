"""The patient's record page over HTTP, on the access tests' territory: a long record is shown a
page of the timeline at a time (most recent first, the filters kept from page to page) and an
analyte's table its latest results unless all are asked for; the trace names what the page
showed; a bad date and a break-the-glass form without its CSRF token are refused, saying why."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from access.conftest import CH, observation, territory  # noqa: F401 - the access tests' territory
from ght.record import store
from support import last_entries

STAYS = 230  # the page shows 100 items


def _stay(identity: int, start: datetime) -> dict:
    return {"resourceType": "Encounter", "status": "finished", "meta": {"source": f"urn:finess:{CH}"},
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{identity}"},
            "period": {"start": start.isoformat(), "end": start.isoformat()}}


@pytest.fixture
def long_record(territory, db):  # noqa: F811
    """Marie's record with STAYS more consultations at the CH, one a day going back, and 25 more
    potassium results."""
    system = store.WriteContext(actor="test")
    now = datetime.now(UTC)
    for day in range(STAYS):
        store.create(db, _stay(territory.marie_ch, now - timedelta(days=30 + day)), system)
    for n in range(25):
        result = observation(str(territory.marie_ch), CH)
        result["effectiveDateTime"] = (now - timedelta(days=40 + n)).isoformat()
        store.create(db, result, system)
    db.commit()
    return territory


def _items(html: str) -> list[str]:
    return re.findall(r'<li class="item item-(\w+)">\s*<time datetime="([^"]*)"', html)


def test_a_long_record_is_shown_a_timeline_page_at_a_time_most_recent_first(long_record, db):
    doc = long_record.browser("doc")
    first = doc.get(f"/patients/{long_record.marie}")
    assert first.status_code == 200
    total = STAYS + 1  # and the fixture's stay at the CH
    assert f"{total} éléments, du plus récent au plus ancien : 1 à 100." in first.text
    items = _items(first.text)
    assert len(items) == 100 and [when for _, when in items] == sorted((w for _, w in items), reverse=True)
    assert "page_number=2" in first.text and "Plus récents" not in first.text
    # The trace names what the page showed: its 100 items and the lab results of its tables.
    entry = last_entries(db, 1)[0]
    shown = json.loads(entry.resources)
    assert sum(r.startswith("Encounter/") for r in shown) == 100
    assert sum(r.startswith("Observation/") for r in shown) == 27

    last = doc.get(f"/patients/{long_record.marie}", params={"page_number": 3})
    assert len(_items(last.text)) == total - 200 and "Plus anciens" not in last.text
    assert f"{total} éléments, du plus récent au plus ancien : 201 à {total}." in last.text
    assert _items(last.text)[0][1] < items[-1][1]
    beyond = doc.get(f"/patients/{long_record.marie}", params={"page_number": 99})
    assert _items(beyond.text) == _items(last.text)  # the last page, not an empty one


def test_the_pager_keeps_the_filters(long_record):
    doc = long_record.browser("doc")
    page = doc.get(f"/patients/{long_record.marie}", params={"type": "Encounter", "du": "2000-01-01"})
    assert 'href="?type=Encounter&amp;du=2000-01-01&amp;page_number=2"' in page.text


def test_an_analytes_table_shows_its_latest_results_unless_all_are_asked_for(long_record):
    doc = long_record.browser("doc")
    potassium = 26  # the fixture's result at the CH and the 25 older ones

    def rows(html: str) -> int:
        table = html.split('id="biologie"')[1].split("</table>")[0]
        return table.count("<tr><td>")

    page = doc.get(f"/patients/{long_record.marie}")
    assert f"Les 20 derniers résultats sur {potassium}" in page.text
    assert rows(page.text) == 20
    everything = doc.get(f"/patients/{long_record.marie}", params={"resultats": "tous"})
    assert rows(everything.text) == potassium and "derniers résultats sur" not in everything.text


def test_a_bad_date_filter_is_refused_saying_which(territory):  # noqa: F811
    doc = territory.browser("doc")
    answer = doc.get(f"/patients/{territory.marie}", params={"du": "31/12/2025"}, headers={"Accept": "text/html"})
    assert answer.status_code == 400
    assert "Du : date invalide « 31/12/2025 » (AAAA-MM-JJ)" in answer.text


def test_break_the_glass_without_the_forms_token_is_refused(territory):  # noqa: F811
    outsider = territory.browser("outsider")
    answer = outsider.post(f"/patients/{territory.paul}/bris-de-glace", data={"motif": "patient inconscient"},
                           headers={"Accept": "text/html"})
    assert answer.status_code == 403 and "Le formulaire a expiré : rechargez la page." in answer.text
    record = outsider.get(f"/patients/{territory.paul}")
    assert record.status_code == 403  # still outside the care team: no break-the-glass was declared
