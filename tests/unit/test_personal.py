"""Personal data withheld unless named, text values typed, maps of unselected streams set aside."""

from __future__ import annotations

import copy

import pytest
from singer_sdk.singerlib import Catalog

from tap_mindzpay import personal
from tap_mindzpay.inputs import typed_text_values
from tap_mindzpay.settings import SETTINGS
from tap_mindzpay.streammaps import maps_of_synced_streams

DECLARED = {"users": ("cpf_cnpj", "phone"), "contacts": ("email",)}


def _catalog(selected: dict[str, bool], properties: dict[str, bool]) -> Catalog:
    streams = []
    for name, on in selected.items():
        metadata = [{"breadcrumb": [], "metadata": {"selected": on}}]
        metadata += [
            {"breadcrumb": ["properties", p], "metadata": {"selected": v}}
            for p, v in properties.items()
        ]
        streams.append(
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": {"properties": {p: {"type": "string"} for p in properties}},
                "metadata": metadata,
            }
        )
    return Catalog.from_dict({"streams": streams})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, set()),
        (None, set()),
        ([], set()),
        (True, {"cpf_cnpj", "phone"}),
        (["phone"], {"phone"}),
        (["users.cpf_cnpj"], {"cpf_cnpj"}),
        (["contacts.phone"], set()),
    ],
)
def test_included_names_the_personal_properties_a_value_lets_through(value, expected):
    assert personal.included(value, "users", DECLARED["users"]) == expected


def test_a_catalog_selecting_personal_data_is_withheld_unless_the_setting_names_it():
    catalog = _catalog({"users": True}, {"cpf_cnpj": True, "phone": True, "name": True})
    personal.withhold_in_catalog(catalog, ["phone"], DECLARED)
    mask = catalog.get_stream("users").metadata.resolve_selection()
    assert mask[("properties", "cpf_cnpj")] is False
    assert mask[("properties", "phone")] is True
    assert mask[("properties", "name")] is True


def test_a_personal_property_missing_from_the_catalog_metadata_is_deselected_too():
    catalog = _catalog({"users": True}, {"name": True})
    personal.withhold_in_catalog(catalog, value=False, declared=DECLARED)
    assert (
        catalog.get_stream("users").metadata.resolve_selection()[("properties", "cpf_cnpj")]
        is False
    )


def test_unknown_names_are_one_line_each_listing_the_known_ones():
    lines = personal.unknown_names(["users.phone", "cpff"], DECLARED)
    assert lines == [
        (
            "setting include_personal_data: 'cpff' is not a personal-data property; the tap's "
            "are contacts.email, users.cpf_cnpj, users.phone"
        )
    ]


def test_the_left_out_line_names_only_the_synced_streams_and_what_the_setting_leaves():
    catalog = _catalog({"users": True, "contacts": False}, {})
    synced = personal.synced(catalog, DECLARED)
    line = personal.left_out_line(["cpf_cnpj"], synced)
    assert line is not None
    assert "left out of this run: users.phone;" in line
    assert personal.left_out_line(value=True, selected=synced) is None


@pytest.mark.parametrize(
    ("given", "typed"),
    [
        ({"sandbox": "true"}, {"sandbox": True}),
        ({"sandbox": "False"}, {"sandbox": False}),
        ({"sandbox": "yes"}, {"sandbox": "yes"}),  # left for the validation to name
        ({"include_personal_data": "true"}, {"include_personal_data": True}),
        ({"include_personal_data": '["users.phone"]'}, {"include_personal_data": ["users.phone"]}),
        ({"include_personal_data": "[broken"}, {"include_personal_data": "[broken"}),
        ({"client_id": "true"}, {"client_id": "true"}),  # a string setting stays a string
    ],
)
def test_text_values_of_an_inline_meltano_definition_are_typed(given, typed):
    config = copy.deepcopy(given)
    typed_text_values(config, SETTINGS.to_dict())
    assert config == typed


def test_a_map_of_an_unselected_stream_is_set_aside_and_the_others_kept():
    catalog = _catalog({"users": False, "payments": True}, {})
    maps = {
        "users": {"email": "md5(email)"},
        "payments": {"client_id": "__NULL__"},
        "users_copy": {"__source__": "users"},
        "elsewhere": {"x": "1"},  # not a stream of the tap: left to the SDK
    }
    kept, aside = maps_of_synced_streams(maps, catalog, ["users", "payments"])
    assert aside == ["users", "users_copy"]
    assert kept == {"payments": {"client_id": "__NULL__"}, "elsewhere": {"x": "1"}}
    assert maps_of_synced_streams(maps, None, ["users", "payments"]) == (maps, [])
