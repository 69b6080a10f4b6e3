"""Wikitext cleaning: what must survive (words, numbers, link text) and what must go."""

from __future__ import annotations

import pytest

from pipeline.formats.mediawiki.wikitext import CleanOptions, Siteinfo, clean, has_residue
from tests.fixtures.wiki_constructs import CONSTRUCTS

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


# -- the issue-12 table: prose that used to vanish silently --------------------------------------

@pytest.mark.parametrize("wikitext, expected", [
    ('Alpha.<ref name="http://x/a" /> Beta gamma delta.<ref>c</ref> Epsilon.', "Alpha. Beta gamma delta. Epsilon."),
    ("Use <nowiki>{{</nowiki> to open a template. Then more text here.",
     "Use {{ to open a template. Then more text here."),
    ("The film [[Ali: Fear Eats the Soul|Ali]] was made in 1974.", "The film Ali was made in 1974."),
    ("He was {{convert|6|ft|2|in|m}} tall.", "He was 6 ft 2 in tall."),
    ("An area of 5 km<sup>2</sup>.", "An area of 5 km²."),
    ('Text before.\n:{| class="wikitable"\n| a || b\n|}\nText after.', "Text before.\nText after."),
    ('Para one.<div style="x">Inner text</div> Para two.', "Para one.\n\nInner text\n\nPara two."),
])
def test_issue_table_rows(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("ref", ['<ref name="a/b" />', "<ref name='x>y' group=n/>", '<ref name=c group="note"/>',
                                 '<REF NAME="http://x/a"/>', '<ref follow="p1"   />'])
def test_self_closing_refs_with_any_attribute_value(ref):
    assert clean(f"One.{ref} Two three.<ref>cite</ref> Four.", SITE) == "One. Two three. Four."


def test_unclosed_ref_ends_at_its_paragraph_and_is_counted():
    counts: dict[str, int] = {}
    text = clean("Lead sentence.<ref>an unclosed citation\n\nSecond paragraph stays.", SITE, counts=counts)
    assert text == "Lead sentence.\n\nSecond paragraph stays."
    assert counts == {"unclosed_ref": 1}


@pytest.mark.parametrize("wikitext, expected", [
    ("Type <code>{{</code> then text follows here.", "Type {{ then text follows here."),
    ("Before <pre>}} {{x\n[[y</pre> after the block.", "Before }} {{x\n[[y after the block."),
    ('Code <syntaxhighlight lang="c">int a() { return {{1}}; }</syntaxhighlight> and the prose goes on.',
     "Code and the prose goes on."),
    ("A <nowiki>[[not a link]]</nowiki> stays literal.", "A [[not a link]] stays literal."),
])
def test_nowiki_pre_code_syntaxhighlight_are_opaque_to_brace_scanning(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("wikitext, expected", [
    ("[[Ali: Fear Eats the Soul]] is a film.", "Ali: Fear Eats the Soul is a film."),
    ("[[Star Wars: Episode IV|the film]] again.", "the film again."),
    ("See [[ru:Москва]][[zh-min-nan:Bo̍k-kiá]][[simple:Moscow]] here.", "See here."),
    ("A [[wikt:serendipity|lucky find]] and [[commons:Cat|cats]].", "A lucky find and cats."),
    ("A [[:fr:Paris|link to French]] shows.", "A link to French shows."),
])
def test_interlanguage_links_only_for_real_language_codes(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("wikitext", [
    "[[Bild:X.jpg|miniatur|Caption]]Rest.", "[[Image:X.jpg|thumb|Caption]]Rest.", "[[File:X.jpg|Caption]]Rest.",
    "[[Datei:X.jpg|mini|Caption]]Rest.", "[[Media:X.ogg|Caption]]Rest.", "[[Kategorie:Foo]]Rest.",
    "[[Category:Foo]]Rest.", "[[Medium:X.ogg|Caption]]Rest.",
])
def test_canonical_and_localized_namespaces_and_aliases_leave_nothing(wikitext):
    dewiki = Siteinfo("https://de.wikipedia.org", {-2: "Medium", 6: "Datei", 14: "Kategorie"}, aliases={6: ["Bild"]})
    assert clean(wikitext, dewiki) == "Rest."


def test_canonical_namespaces_need_no_siteinfo():
    bare = Siteinfo("https://xx.wikipedia.org")
    assert clean("[[Image:A.png|thumb|Cap]][[Category:Z]][[Media:B.ogg]]Text.", bare) == "Text."


@pytest.mark.parametrize("wikitext, expected", [
    ("Ran {{convert|1|to|2|mi|km}} today.", "Ran 1 to 2 mi today."),
    ("It weighs {{convert|10|st|4|lb|kg}}.", "It weighs 10 st 4 lb."),
    ("A box {{convert|3|x|4|x|5|m}}.", "A box 3 × 4 × 5 m."),
    ("Area {{convert|88|km2|sqmi}}.", "Area 88 km²."),
    ("Depth {{convert|3|-|4|m|ft}}.", "Depth 3–4 m."),
    ("Mass {{convert|2.5|kg|lb|abbr=on}}.", "Mass 2.5 kg."),
])
def test_convert_renders_every_value_unit_pair_and_ranges(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("wikitext, expected", [
    ("Water is H<sub>2</sub>O.", "Water is H₂O."),
    ("Volume 3 m<sup>3</sup> or 10<sup>-6</sup>.", "Volume 3 m³ or 10⁻⁶."),
    ("The 1<sup>st</sup> of May.", "The 1st of May."),
])
def test_sup_and_sub_become_readable_text(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("wikitext, expected", [
    ("A<blockquote>Quoted words.</blockquote>B", "A\n\nQuoted words.\n\nB"),
    ("<p>First.</p><p>Second.</p>", "First.\n\nSecond."),
    ("<center>Centered</center>Next", "Centered\n\nNext"),
    ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
])
def test_block_level_html_becomes_a_paragraph_break(wikitext, expected):
    assert clean(wikitext, SITE) == expected


@pytest.mark.parametrize("text", ['left <div class="x">', "a <span style='c'>b", "x &amp; y", "x &#160; y",
                                  "an </span> end", "x &mdash; y", "<br />"])
def test_residue_covers_html_tags_and_entities(text):
    assert has_residue(text)


def test_plain_text_with_angle_brackets_is_not_residue():
    assert not has_residue("3 < 4 and 5 > 2, A&B and R&D")


# -- prose retention: an estimate independent of the cleaner --------------------------------------

def test_the_prose_estimate_sees_what_the_old_cleaner_dropped():
    from pipeline.formats.mediawiki.retention import prose_words, words

    page = "Use <nowiki>{{</nowiki> to open a template. Then more text here, and a sentence or two besides."
    assert prose_words(page) >= 15
    assert words("Use") < 0.7 * prose_words(page) <= words(clean(page, SITE))


def test_the_prose_estimate_skips_infoboxes_tables_refs_and_files():
    from pipeline.formats.mediawiki.retention import prose_words

    page = ("{{Infobox town\n| name = Alpha Beta Gamma\n| motto = many many words here\n}}\n"
            "Four words of prose.<ref>{{cite web|title=A long citation title}}</ref>\n"
            '{| class="wikitable"\n| table words here\n|}\n[[File:X.jpg|thumb|A caption of words]]\n'
            "[[Category:Things]]\n* Two more.")
    assert prose_words(page) == 6


def test_most_reduced_pages_are_listed_lowest_ratio_first(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.formats.mediawiki.retention import card_section, shard_stats

    table = pa.table({"id": [1, 2, 3, 4], "title": ["Kept", "Halved", "Gutted", "Tiny"],
                      "words": pa.array([100, 50, 5, 1], pa.int32()),
                      "source_words": pa.array([100, 100, 100, 10], pa.int32()),
                      "repairs": pa.array([[], ["unclosed_ref"], [], []], pa.list_(pa.string()))})
    pq.write_table(table, tmp_path / "a.parquet")
    stats = shard_stats(table)
    assert stats == {"words": 156, "source_words": 310, "reduced_pages": 2, "repaired_unclosed_ref": 1}
    manifest = {"shards": [{"file": "a.parquet"}], "totals": {"stats": stats}}
    section = card_section(tmp_path, manifest, top=2)
    assert section.index("| 3 | Gutted | 5 | 100 | 5% |") < section.index("| 2 | Halved | 50 | 100 | 50% |")
    assert "Tiny" not in section and "Kept" not in section and "under 70% of their estimate: 2" in section


@pytest.mark.parametrize("case", CONSTRUCTS, ids=[c.name for c in CONSTRUCTS])
def test_real_looking_constructs_keep_their_sentences(case):
    text = clean(case.wikitext, SITE)
    for sentence in case.keep:
        assert sentence in text, (sentence, text)
    for junk in case.drop:
        assert junk not in text, (junk, text)
    assert not has_residue(text) or case.name == "code and nowiki", text
