"""The cluster's private zone: a negative answer for the head address is cached for seconds, not 15 minutes.

Route 53 writes a zone's SOA itself (`... 1 7200 900 1209600 86400`, TTL 900), and resolvers cache a
negative answer for the lesser of the SOA record's TTL and its last field: 900 s by default.
"""

from __future__ import annotations

import pytest

from components.ray_cluster.plan import NEGATIVE_CACHE_TTL, private_zone_soa

ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_private_zone_overwrites_its_soa_with_a_short_negative_cache_time(plans, env):
    plan = plans(env)
    zones = [z for z in plan.of_type(ZONE) if z.component == "cluster"]
    assert zones
    for zone in zones:
        soas = [r for r in plan.of_type(RECORD) if r.inputs.get("type") == "SOA" and r.inputs.get("zoneId") == zone.id]
        assert len(soas) == 1, zone.name
        soa = soas[0].inputs
        assert soa["name"] == zone.inputs["name"]
        # Route 53 created the SOA with the zone: only an overwrite can change it.
        assert soa["allowOverwrite"] is True
        (value,) = soa["records"]
        mname, rname, serial, refresh, retry, expire, minimum = value.split(" ")
        assert mname.endswith(".awsdns-01.net.") and rname == "awsdns-hostmaster.amazon.com."
        assert (serial, refresh, retry, expire) == ("1", "7200", "900", "1209600")
        assert min(soa["ttl"], int(minimum)) == NEGATIVE_CACHE_TTL == 10


def test_soa_value_takes_the_primary_name_server_with_or_without_its_final_dot():
    expected = "ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 10"
    assert private_zone_soa("ns-1536.awsdns-00.co.uk") == expected
    assert private_zone_soa("ns-1536.awsdns-00.co.uk.") == expected


def test_destroy_leaves_the_soa_to_the_zone(plans):
    # Route 53 refuses to delete a zone's SOA (InvalidChangeBatch); deleting the zone removes it.
    retained = {r.name: r.retainOnDelete for r in plans.registrations("dev") if r.type == RECORD}
    assert retained["cluster-us-west-2-zone-soa"] is True
