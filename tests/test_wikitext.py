"""Wikitext cleaning: what must survive (words, numbers, link text) and what must go."""

from __future__ import annotations

import pytest

from pipeline.wikitext import CleanOptions, Siteinfo, clean, has_residue

SITE = Siteinfo("https://de.wikipedia.org", {-2: "Medium", 0: "", 6: "Datei", 14: "Kategorie", 4: "Wikipedia"})


@pytest.mark.parametrize("wikitext, expected", [
    ("An [[apple]] and a [[Pear tree|pear]].", "An apple and a pear."),
    ("'''Bold''' and ''italic'' text.", "Bold and italic text."),
    ("''Titanic'''s success and '''''both''''' and ''''four''''.", "Titanic's success and both and 'four'."),
    ("[[Foo (band)|]] and [[Bar#Section|bar]] and [[#Local]]", "Foo and bar and Local"),
    ("[[File:X.jpg|thumb|A [[link]] in a caption]]After", "After"),
    ("It is {{convert|5|km|mi}} long.", "It is 5 km long."),
    ("From {{convert|3|-|4|m|ft}} deep.", "From 3–4 m deep."),
    ("About {{formatnum:1234567}} people.", "About 1,234,567 people."),
    ("Born {{birth date|1815|12|10}}.", "Born December 10, 1815."),
    ("Born {{birth date|1815|12|10|df=y}}.", "Born 10 December 1815."),
    ("Say {{lang|fr|bonjour}} and {{lang-de|Hallo}}.", "Say bonjour and Hallo."),
    ("A {{nowrap|long phrase}} here.", "A long phrase here."),
    ("Range 1990{{ndash}}1995.", "Range 1990–1995."),
    ("Value {{val|1.5|e=3|u=m}}.", "Value 1.5×10^3 m."),
    ("{{nihongo|Tokyo|東京|Tōkyō}} is big.", "Tokyo (東京, Tōkyō) is big."),
    ("Fact.<ref name=a>{{cite web|url=x}}</ref> More.<ref name=a/>", "Fact. More."),
    ("Hidden<!-- comment --> text.", "Hidden text."),
    ("[[Datei:X.jpg|thumb|Caption]]Text [[Kategorie:Foo]][[File:Y.png]][[Category:Bar]]", "Text"),
    ("Text [[fr:Texte]] [[zh-yue:文]].", "Text."),
    ("See [[Wikipedia:Policy|the policy]].", "See the policy."),
    ("== Heading ==\nBody.", "Heading\n\nBody."),
    ("* one\n* two\n# three", "one\ntwo\nthree"),
    ("Before\n{| class=wikitable\n| a || b\n{|\n| nested\n|}\n|}\nAfter", "Before\nAfter"),
    ("__TOC__Text __NOTOC__", "Text"),
    ("{{Infobox person|name=A|born={{birth date|1900|1|1}}}}Lead.", "Lead."),
    ("Text (see {{citation needed}}) end.", "Text (see) end."),
    ("Text {{citation needed}}.", "Text."),
    ("Text {{IPA|/x/}} end.", "Text end."),
    ("A&nbsp;B &amp; C", "A B & C"),
    ("x <math>a^2</math> y <gallery>\nA.jpg\n</gallery> z", "x y z"),
    ("Unclosed {{template|a=b and the rest\n\nNext paragraph.", "Unclosed\n\nNext paragraph."),
    ("Go to [https://example.org the site] or https://example.org now.", "Go to the site or https://example.org now."),
    ("Cited [https://example.org] here.", "Cited here."),
])
def test_clean(wikitext, expected):
    assert clean(wikitext, SITE) == expected


def test_keep_math_is_an_option():
    assert clean("x <math>a^2</math> y", SITE, CleanOptions(keep_math=True)) == "x $a^2$ y"


def test_localized_prefixes_come_from_siteinfo():
    english = Siteinfo("", {6: "File", 14: "Category"})
    assert clean("[[Kategorie:Foo|Foo]] stays", english) == "Foo stays"
    assert clean("[[Kategorie:Foo|Foo]] goes", SITE) == "goes"


def test_residue_detection():
    assert has_residue("left {{ over") and has_residue("[[x") and has_residue("a '''b")
    assert not has_residue("plain text with a | pipe and {braces}")
