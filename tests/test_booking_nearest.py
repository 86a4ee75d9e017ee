"""The nearest service sites to a shared location: distances, order, sites without a location, wording."""
import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.booking import nearest
from bot.booking.catalogue import load_catalogue
from tests.conftest import catalogue_without_location

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
DOMAIN = YAML(typ="safe").load((ROOT / "bot" / "domain" / "booking.yml").read_text(encoding="utf-8"))
TEMPLATES = {key: DOMAIN["responses"][name][0]["text"] for key, name in nearest.TEMPLATES.items()}
YUEYAHU = (32.0335, 118.8195)  # a few hundred metres from the demo 月牙湖 site


@pytest.fixture(scope="module")
def cat():
    return load_catalogue(KNOWLEDGE)


def test_haversine_known_distances():
    assert nearest.haversine_m(32.0, 118.8, 32.0, 118.8) == 0
    # one degree of latitude is about 111.2 km anywhere
    assert nearest.haversine_m(32.0, 118.8, 33.0, 118.8) == pytest.approx(111_195, rel=1e-3)
    # 南京 (新街口) to 上海 (人民广场): about 270 km as the crow flies
    assert 260_000 < nearest.haversine_m(32.0418, 118.7845, 31.2304, 121.4737) < 280_000
    # symmetric
    assert nearest.haversine_m(1, 2, 3, 4) == pytest.approx(nearest.haversine_m(3, 4, 1, 2))


def test_every_demo_site_has_a_location_in_qinhuai(cat):
    for site in cat.sites.values():
        assert site.location is not None, site.id
        assert 32.0 < site.location.lat < 32.05 and 118.77 < site.location.lng < 118.84, site.id


def test_nearest_sites_of_the_real_catalogue(cat):
    found = nearest.nearest_sites(cat, *YUEYAHU)
    assert [s.id for s, _ in found][:1] == ["yueyahu"] and len(found) == 2
    assert found[0][1] < 1000 and found[0][1] <= found[1][1]
    assert 2000 < found[1][1] < 5000  # the other sites are west, near 中山南路
    everything = nearest.nearest_sites(cat, *YUEYAHU, limit=10)
    assert len(everything) == 3 and [m for _, m in everything] == sorted(m for _, m in everything)
    # near 白下路 / 中山南路 it is 大阳沟
    assert nearest.nearest_sites(cat, 32.0285, 118.7890, limit=1)[0][0].id == "dayanggou"
    assert nearest.nearest_sites(cat, *YUEYAHU, limit=0) == []


def test_far_away_is_not_nearby(cat):
    guangzhou = (23.134521, 113.358803)
    assert len(nearest.nearest_sites(cat, *guangzhou)) == 2  # without a limit: still the nearest
    assert nearest.nearest_sites(cat, *guangzhou, within_m=nearest.NEARBY_LIMIT_M) == []
    assert nearest.nearest_sites(cat, *YUEYAHU, within_m=nearest.NEARBY_LIMIT_M)


def test_sites_without_location_are_skipped(tmp_path):
    cat = load_catalogue(catalogue_without_location(tmp_path / "one", "yueyahu"))
    assert cat.sites["yueyahu"].location is None
    found = nearest.nearest_sites(cat, *YUEYAHU, limit=5)
    assert [s.id for s, _ in found] == ["dayanggou", "wulaocun"]
    none = catalogue_without_location(tmp_path / "none", "yueyahu", "dayanggou", "wulaocun")
    assert nearest.nearest_sites(load_catalogue(none), *YUEYAHU) == []


@pytest.mark.parametrize("lat,lng,expected", [
    (32.03, 118.79, (32.03, 118.79)),
    ("32.03", " 118.79 ", (32.03, 118.79)),
    (0, 0, (0.0, 0.0)),
    (-90, 180, (-90.0, 180.0)),
    (91, 118.79, None),
    (32.03, -180.5, None),
    ("abc", 118.79, None),
    (None, 118.79, None),
    (True, 118.79, None),
    (float("nan"), 118.79, None),
    (32.03, float("inf"), None),
    ([32.03], 118.79, None),
])
def test_point_accepts_only_usable_coordinates(lat, lng, expected):
    assert nearest.point(lat, lng) == expected


@pytest.mark.parametrize("metres,expected", [
    (0, "约 100 米"), (149, "约 100 米"), (820, "约 800 米"), (960, "约 1 公里"), (1000, "约 1 公里"),
    (2340, "约 2.3 公里"), (12_600, "约 13 公里"),
])
def test_distance_wording(metres, expected):
    assert nearest.describe_distance(metres, TEMPLATES) == expected


def test_site_description_and_buttons(cat):
    yueyahu = cat.sites["yueyahu"]
    text = nearest.describe_site(yueyahu, 640, TEMPLATES)
    assert "月牙湖社区养老服务站" in text and "约 600 米" in text and yueyahu.address in text
    assert yueyahu.phone in text and "每天 9:00-16:30" in text
    assert "周一到周六 8:30-17:00" in nearest.describe_site(cat.sites["dayanggou"], 1, TEMPLATES)
    assert "周一到周五 8:30-17:30" in nearest.describe_site(cat.sites["wulaocun"], 1, TEMPLATES)
    buttons = nearest.service_buttons(cat, yueyahu)
    by_service = {json.loads("{" + b["payload"].split("{", 1)[1])["service"]: b for b in buttons}
    # one button per service; a service offered at the site is booked there, an at-home-only one is not tied to it
    assert len(buttons) == len(by_service) == len({o.service_id for o in yueyahu.offerings})
    assert by_service["meal"]["payload"] == '/book_service{"service": "meal", "site": "yueyahu"}'
    assert by_service["cleaning"]["payload"] == '/book_service{"service": "cleaning"}'
    assert by_service["meal"]["title"] == cat.services["meal"].name


def test_odd_opening_days(cat):
    import dataclasses
    import datetime as dt

    site = dataclasses.replace(cat.sites["dayanggou"], open_days=(0, 2, 4), hours=(dt.time(9), dt.time(12)))
    assert "周一、周三、周五 9:00-12:00" in nearest.describe_site(site, 1, TEMPLATES)
