"""Handle validation (NFKC, allowed characters, one script, reserved names) and TR39 confusable skeletons:
look-alikes (Cyrillic 'а' for Latin 'a', fullwidth, zero-width characters, digit one for 'l') get one key."""

from __future__ import annotations

import pytest

from paperfeed.people.handles import (
    HandleError,
    clean_display_name,
    display_name_key,
    display_name_problem,
    skeleton,
    validate,
)


def test_fullwidth_and_case_normalise_to_the_plain_handle():
    assert validate("ＡＬＩＣＥ") == ("alice", "alice")
    assert validate("Alice") == ("alice", "alice")
    assert validate("@alice") == ("alice", "alice")
    assert validate("x²yz")[0] == "x2yz"  # NFKC: superscript two is 2


@pytest.mark.parametrize("raw", ["аlice", "pаypal", "раураl"])  # Cyrillic а/р/у among Latin letters
def test_mixed_scripts_are_refused(raw):
    with pytest.raises(HandleError, match="one alphabet"):
        validate(raw)


def test_a_single_script_look_alike_has_the_latin_skeleton():
    handle, key = validate("рау")  # all Cyrillic: allowed as a handle, but its key is "pay"
    assert handle == "рау" and key == validate("pay")[1] == "pay"
    assert skeleton("he1lo") == skeleton("hello")  # digit one looks like l
    assert skeleton("rn") == skeleton("m")
    assert skeleton("alice") != skeleton("alicf")


@pytest.mark.parametrize("raw", ["al\u200bice", "al\u200dice", "al\u2060ice", "al ice", "ali\x00ce", "\u202ealice"])
def test_invisible_and_control_characters_are_refused(raw):
    with pytest.raises(HandleError, match="invisible"):
        validate(raw)


@pytest.mark.parametrize("raw", ["admin", "Operator", "ＡＤＭＩＮ", "member12", "settings", "api"])
def test_reserved_names(raw):
    with pytest.raises(HandleError, match="reserved"):
        validate(raw)


@pytest.mark.parametrize("raw,why", [("ab", "3 to 30"), ("a" * 31, "3 to 30"), ("-abc", "starts with"),
                                     ("a.b.c", "letters, digits"), ("<script>", "letters, digits"),
                                     ("abc٣", "digits 0-9")])
def test_shape(raw, why):
    with pytest.raises(HandleError, match=why):
        validate(raw)


def test_other_alphabets_are_welcome():
    assert validate("山田たろう")[0] == "山田たろう"  # Han + Hiragana: TR39 "highly restrictive" allows it
    assert validate("Ελένη")[0] == "ελένη"
    assert validate("user_1-x")[0] == "user_1-x"


def test_display_names_cannot_impersonate_a_handle():
    assert clean_display_name("  Ada \t  Lovelace ") == "Ada Lovelace"
    assert display_name_key("@Аlice") == display_name_key("alice")  # Cyrillic А, leading @
    assert display_name_problem("Ada Lovelace", None, taken_by_other=False) is None
    assert "another member" in display_name_problem("аlice", None, taken_by_other=True)
    assert display_name_problem("alice", "alice", taken_by_other=True) is None  # one's own handle
    assert "reserved" in display_name_problem("Admin", None, taken_by_other=False)
    assert "invisible" in display_name_problem("Ada\u200b", None, taken_by_other=False)
    assert "60" in display_name_problem("x" * 61, None, taken_by_other=False)
