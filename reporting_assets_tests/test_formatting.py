"""Numbers as people read them: one minus sign everywhere, and no minus on a figure that rounds
to zero."""

from reporting_assets.lib.formatting import format_delta, format_value


def test_negative_values_use_the_same_minus_sign_as_changes():
    assert format_value(-1234.4, "usd") == "−$1,234"
    assert format_value(-0.042, "ratio") == "−4.2%"
    assert format_value(-12, "count") == "−12"
    assert format_value(-2.5, "hours") == "−2.5 h"
    assert format_delta(-1234.4, "usd") == "−$1,234"
    assert "-" not in format_value(-1234.4, "usd") + format_delta(-0.01, "ratio")


def test_a_figure_that_rounds_to_zero_has_no_sign():
    assert format_value(-0.3, "usd") == "$0"
    assert format_value(-0.0004, "ratio") == "0.0%"
    assert format_value(-0.0, "count") == "0"
