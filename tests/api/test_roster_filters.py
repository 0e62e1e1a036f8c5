"""What an admin looks up when staff change (the admin's check): the officers still
serving or gone, a person by statewide id, a responder's shifts, one shift by its id."""

from __future__ import annotations

from uuid import uuid4

from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_unrostered_co_responder,
    all_items,
    grid_districts,
)


async def test_officers_filter_by_active_and_statewide_id(admin: Api) -> None:
    await grid_districts(admin)
    staying = await add_officer(admin, district="D1", call_sign="1A1", state_officer_id="ut-7")
    leaving = await add_officer(admin, district="D1", call_sign="1A2")
    await admin.ok("PATCH", f"/v1/officers/{leaving}", {"active": False})
    serving = await all_items(admin, "/v1/officers?active=true")
    gone = await all_items(admin, "/v1/officers?active=false")
    assert ([o["id"] for o in serving], [o["id"] for o in gone]) == ([staying], [leaving])
    # Case as the service keeps it, or not: one person.
    for asked in ("UT-7", "ut-7", " Ut-7 "):
        found = await admin.ok("GET", f"/v1/officers?state_officer_id={asked}")
        assert [o["id"] for o in found["items"]] == [staying]
    assert (await admin.ok("GET", "/v1/officers?state_officer_id=UT-8"))["items"] == []
    both = await admin.ok("GET", "/v1/officers?active=false&state_officer_id=UT-7")
    assert both["items"] == []


async def test_co_responders_filter_by_active(admin: Api) -> None:
    staying = await add_unrostered_co_responder(admin, "Stays")
    leaving = await add_unrostered_co_responder(admin, "Leaves")
    await admin.ok("PATCH", f"/v1/co-responders/{leaving}", {"active": False})
    serving = await all_items(admin, "/v1/co-responders?active=true")
    gone = await all_items(admin, "/v1/co-responders?active=false")
    assert ([c["id"] for c in serving], [c["id"] for c in gone]) == ([staying], [leaving])
    assert (await admin.get("/v1/co-responders?active=maybe")).status_code == 422


async def test_a_responders_shifts_and_one_shift_by_its_id(admin: Api, other_admin: Api) -> None:
    await grid_districts(admin)
    one = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    other = await add_co_responder(admin, district="D2", call_sign="MCT-2")
    [mine] = await all_items(admin, f"/v1/shifts?responder_id={one}")
    assert (mine["responder_id"], mine["call_sign"]) == (one, "MCT-1")
    assert [
        s["responder_id"] for s in await all_items(admin, f"/v1/shifts?responder_id={other}")
    ] == [other]
    # With another filter: both apply.
    assert await all_items(admin, f"/v1/shifts?responder_id={one}&district=D2") == []
    assert await admin.ok("GET", f"/v1/shifts/{mine['id']}") == mine
    for api, shift in ((admin, uuid4()), (other_admin, mine["id"])):
        refused = await api.get(f"/v1/shifts/{shift}")
        assert refused.status_code == 404, refused.text
    assert (await admin.get("/v1/shifts/bulk")).status_code == 405
