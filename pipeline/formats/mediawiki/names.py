"""Names MediaWiki knows without asking the dump: Wikipedia language codes, canonical namespaces, aliases.

A link prefix is an interlanguage link only when it is a real Wikipedia language code
(``[[fr:Paris]]``); any other prefix is an ordinary title with a colon
(``[[Ali: Fear Eats the Soul|Ali]]``). The dump's <siteinfo> names a wiki's localized
namespaces but not their aliases (dewiki's ``Bild:`` for ``Datei:``), so the common
aliases of the file, media and category namespaces are listed here per language.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# The language subdomains of wikipedia.org (meta.wikimedia.org/wiki/List_of_Wikipedias), with
# the historical and alias codes MediaWiki still resolves as interlanguage prefixes.
WIKIPEDIA_LANGUAGES = frozenset("""
aa ab ace ady af ak als alt am ami an ang ann anp ar arc ary arz as ast atj av avk awa ay az azb ba ban bar
bat-smg bbc bcl bdr be be-tarask be-x-old bew bg bh bi bjn blk bm bn bo bpy br bs btm bug bxr ca cbk-zam cdo ce
ceb ch cho chr chy ckb co cr crh cs csb cu cv cy da dag de dga din diq dsb dtp dty dv dz ee el eml en eo es et eu
ext fa fat ff fi fiu-vro fj fo fon fr frp frr fur fy ga gag gan gcr gd gl glk gn gom gor got gpe gu guc gur guw
gv ha hak haw he hi hif ho hr hsb ht hu hy hyw hz ia iba id ie ig igl ii ik ilo inh io is it iu ja jam jbo jv ka
kaa kab kbd kbp kcg kg kge ki kj kk kl km kn knc ko koi kr krc ks ksh ku kus kv kw ky la lad lb lbe lez lfn lg li
lij lld lmo ln lo lrc lt ltg lv lzh mad mai map-bms mdf mg mh mhr mi min mk ml mn mni mnw mo mos mr mrj ms mt mus
mwl my myv mzn na nah nan nap nb nds nds-nl ne new ng nia nl nn no nov nqo nr nrm nso nup nv ny oc olo om or os pa
pag pam pap pcd pcm pdc pfl pi pih pl pms pnb pnt ps pt pwn qu rm rmy rn ro roa-rup roa-tara rsk ru rue rup rw sa
sah sat sc scn sco sd se sg sh shi shn si simple sk skr sl sm smn sn so sq sr srn ss st stq su sv sw syl szl szy
ta tay tcy tdd te tet tg th ti tig tk tl tly tn to tpi tr trv ts tt tum tw ty tyv udm ug uk ur uz ve vec vep vi
vls vo vro wa war wo wuu xal xh xmf yi yo yue za zea zgh zh zh-classical zh-min-nan zh-yue zu
""".split())

# Namespaces -2 (Media), 6 (File) and 14 (Category) by their canonical English names: valid on every wiki.
CANONICAL_DROPPED = frozenset({"file", "image", "category", "media"})

# Localized names and aliases of namespaces -2, 6 and 14 that a dump's <siteinfo> may not list.
DROPPED_ALIASES: dict[str, frozenset[str]] = {lang: frozenset(names.split()) for lang, names in {
    "de": "datei bild kategorie medium",
    "als": "datei bild kategorie medium",
    "bar": "datei bild kategorie medium",
    "fr": "fichier image catégorie média",
    "es": "archivo imagen categoría medio",
    "it": "file immagine categoria",
    "pt": "ficheiro arquivo imagem categoria multimédia",
    "nl": "bestand afbeelding categorie",
    "sv": "fil bild kategori",
    "no": "fil bilde kategori",
    "da": "fil billede kategori",
    "fi": "tiedosto kuva luokka media",
    "pl": "plik grafika kategoria",
    "cs": "soubor obrázek kategorie média",
    "ru": "файл изображение категория медиа",
    "uk": "файл зображення категорія медіа",
    "ja": "ファイル 画像 カテゴリ メディア",
    "zh": "文件 档案 檔案 图像 圖像 分类 分類 媒体 媒體",
    "ko": "파일 그림 분류 미디어",
    "ar": "ملف صورة تصنيف ميديا",
    "tr": "dosya resim kategori ortam",
    "hu": "fájl kép kategória média",
    "ca": "fitxer imatge categoria",
    "id": "berkas gambar kategori",
}.items()}


def language_of(base_url: str) -> str:
    """``https://de.wikipedia.org`` → ``de`` (empty when the host says nothing)."""
    host = urlsplit(base_url).hostname or ""
    return host.split(".", 1)[0] if host.count(".") >= 2 else ""
