"""Amounts as staff type them: "50 GB" in, base units out, and back."""

import pytest

from billing.units import GB, format_quantity_input, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("50 GB", "byte", 50 * GB),
        ("500 MB", "byte", 500 * 10**6),
        ("1.5gb", "byte", 1_500_000_000),
        ("120 min", "second", 7200),
        ("2 h", "second", 7200),
        ("5 slots", "slot", 5),
        ("1 slot", "slot", 1),
        ("7", "slot", 7),
        (" 4096 ", "byte", 4096),
        ("-5 GB", "byte", -5 * GB),
        ("3 GB", None, 3 * GB),
    ],
)
def test_amounts_with_a_unit_are_read_in_base_units(text, unit, expected):
    assert parse_quantity(text, unit) == expected


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("lots", "byte", 'Write a number, optionally with a unit ("50 GB"'),
        ("", "second", 'Write a number, optionally with a unit ("120 min"'),
        ("10 min", "byte", "Storage is counted in bytes"),
        ("5 GB", "slot", "Storage is counted in slots"),
        ("5 parsecs", "byte", '"parsecs" is not a unit'),
        ("1.5 slots", "slot", "That is not a whole number of slots."),
        ("0.5 s", "second", "That is not a whole number of seconds."),
        ("99999999999 TB", "byte", "That amount is too large."),
    ],
)
def test_nonsense_is_refused_with_a_message_for_staff(text, unit, message):
    with pytest.raises(ValueError) as excinfo:
        parse_quantity(text, unit, name="Storage")
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("amount", "unit", "shown"),
    [
        (50 * GB, "byte", "50 GB"),
        (1_500_000_000, "byte", "1.5 GB"),
        (500 * 10**6, "byte", "500 MB"),
        (1_234_567_891, "byte", "1234567891 B"),
        (7200, "second", "120 min"),
        (90, "second", "1.5 min"),
        (100, "second", "100 s"),
        (5, "slot", "5 slots"),
        (1, "slot", "1 slot"),
    ],
)
def test_stored_amounts_are_shown_as_typed_and_read_back_exactly(amount, unit, shown):
    assert format_quantity_input(amount, unit) == shown
    assert parse_quantity(shown, unit) == amount
