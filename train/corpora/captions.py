"""Captions composed from clip labels, in English, German, French and Spanish.

Captions only say what the labels say: instruments, style, tempo, dynamics, meter, composer,
origin, and the key only when it is exact (an estimated key is never put into words).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from lyrebird.core.fingerprint import stable_hash

LANGS: tuple[str, ...] = ("en", "de", "fr", "es")

# Instruments: indefinite noun phrase, nominative.  name: (en, de, fr, es)
INST_NP: dict[str, tuple[str, str, str, str]] = {
    "piano": ("a piano", "ein Klavier", "un piano", "un piano"),
    "electric piano": ("an electric piano", "ein E-Piano", "un piano électrique", "un piano eléctrico"),
    "harpsichord": ("a harpsichord", "ein Cembalo", "un clavecin", "un clavecín"),
    "celesta": ("a celesta", "eine Celesta", "un célesta", "una celesta"),
    "music box": ("a music box", "eine Spieluhr", "une boîte à musique", "una caja de música"),
    "vibraphone": ("a vibraphone", "ein Vibraphon", "un vibraphone", "un vibráfono"),
    "marimba": ("a marimba", "ein Marimbaphon", "un marimba", "una marimba"),
    "xylophone": ("a xylophone", "ein Xylophon", "un xylophone", "un xilófono"),
    "drawbar organ": ("a Hammond organ", "eine Hammondorgel", "un orgue Hammond", "un órgano Hammond"),
    "church organ": ("a church organ", "eine Kirchenorgel", "un orgue d'église", "un órgano de iglesia"),
    "reed organ": ("a reed organ", "ein Harmonium", "un harmonium", "un armonio"),
    "accordion": ("an accordion", "ein Akkordeon", "un accordéon", "un acordeón"),
    "harmonica": ("a harmonica", "eine Mundharmonika", "un harmonica", "una armónica"),
    "nylon guitar": ("a classical guitar", "eine Konzertgitarre", "une guitare classique", "una guitarra clásica"),
    "steel guitar": ("an acoustic guitar", "eine Westerngitarre", "une guitare folk", "una guitarra acústica"),
    "clean electric guitar": ("a clean electric guitar", "eine cleane E-Gitarre", "une guitare électrique claire", "una guitarra eléctrica limpia"),
    "overdriven guitar": ("an overdriven guitar", "eine angezerrte E-Gitarre", "une guitare saturée", "una guitarra saturada"),
    "distortion guitar": ("a distorted guitar", "eine verzerrte E-Gitarre", "une guitare distordue", "una guitarra distorsionada"),
    "acoustic bass": ("an upright bass", "ein Kontrabass", "une contrebasse", "un contrabajo"),
    "electric bass": ("an electric bass", "ein E-Bass", "une basse électrique", "un bajo eléctrico"),
    "synth bass": ("a synth bass", "ein Synthesizer-Bass", "une basse synthétique", "un bajo sintetizado"),
    "violin": ("a violin", "eine Violine", "un violon", "un violín"),
    "viola": ("a viola", "eine Bratsche", "un alto", "una viola"),
    "cello": ("a cello", "ein Cello", "un violoncelle", "un violonchelo"),
    "contrabass": ("a double bass", "ein Kontrabass", "une contrebasse", "un contrabajo"),
    "pizzicato strings": ("pizzicato strings", "Pizzicato-Streicher", "des cordes en pizzicato", "cuerdas en pizzicato"),
    "harp": ("a harp", "eine Harfe", "une harpe", "un arpa"),
    "string ensemble": ("a string ensemble", "ein Streicherensemble", "un ensemble à cordes", "un conjunto de cuerdas"),
    "choir": ("a choir", "ein Chor", "un chœur", "un coro"),
    "voice oohs": ("a vocal ensemble", "ein Vokalensemble", "un ensemble vocal", "un conjunto vocal"),
    "trumpet": ("a trumpet", "eine Trompete", "une trompette", "una trompeta"),
    "trombone": ("a trombone", "eine Posaune", "un trombone", "un trombón"),
    "tuba": ("a tuba", "eine Tuba", "un tuba", "una tuba"),
    "french horn": ("a French horn", "ein Waldhorn", "un cor", "una trompa"),
    "brass section": ("a brass section", "ein Bläsersatz", "une section de cuivres", "una sección de metales"),
    "soprano saxophone": ("a soprano saxophone", "ein Sopransaxophon", "un saxophone soprano", "un saxofón soprano"),
    "alto saxophone": ("an alto saxophone", "ein Altsaxophon", "un saxophone alto", "un saxofón alto"),
    "tenor saxophone": ("a tenor saxophone", "ein Tenorsaxophon", "un saxophone ténor", "un saxofón tenor"),
    "baritone saxophone": ("a baritone saxophone", "ein Baritonsaxophon", "un saxophone baryton", "un saxofón barítono"),
    "oboe": ("an oboe", "eine Oboe", "un hautbois", "un oboe"),
    "bassoon": ("a bassoon", "ein Fagott", "un basson", "un fagot"),
    "clarinet": ("a clarinet", "eine Klarinette", "une clarinette", "un clarinete"),
    "piccolo": ("a piccolo", "eine Piccoloflöte", "un piccolo", "un flautín"),
    "flute": ("a flute", "eine Flöte", "une flûte", "una flauta"),
    "recorder": ("a recorder", "eine Blockflöte", "une flûte à bec", "una flauta dulce"),
    "pan flute": ("a pan flute", "eine Panflöte", "une flûte de Pan", "una flauta de pan"),
    "whistle": ("a tin whistle", "eine Tin Whistle", "un tin whistle", "un tin whistle"),
    "square lead": ("a square-wave synth", "ein Rechteck-Synthesizer", "un synthé à onde carrée", "un sintetizador de onda cuadrada"),
    "sawtooth lead": ("a sawtooth synth", "ein Sägezahn-Synthesizer", "un synthé en dents de scie", "un sintetizador de diente de sierra"),
    "new age pad": ("a new age synth pad", "ein New-Age-Pad", "une nappe new age", "un pad new age"),
    "warm pad": ("a warm synth pad", "ein warmes Synthesizer-Pad", "une nappe de synthé chaude", "un pad cálido de sintetizador"),
    "choir pad": ("a synth choir pad", "ein Chor-Pad", "une nappe de chœur synthétique", "un pad de coro sintético"),
    "sitar": ("a sitar", "eine Sitar", "un sitar", "un sitar"),
    "banjo": ("a banjo", "ein Banjo", "un banjo", "un banjo"),
    "bagpipe": ("a bagpipe", "ein Dudelsack", "une cornemuse", "una gaita"),
    "fiddle": ("a fiddle", "eine Fiddle", "un violon folk", "un violín folk"),
    "drum kit": ("a drum kit", "ein Schlagzeug", "une batterie", "una batería"),
}
ENS_NP: dict[str, tuple[str, str, str, str]] = {
    "string quartet": ("a string quartet", "ein Streichquartett", "un quatuor à cordes", "un cuarteto de cuerda"),
    "string orchestra": ("a string orchestra", "ein Streichorchester", "un orchestre à cordes", "una orquesta de cuerdas"),
    "choir": INST_NP["choir"], "vocal ensemble": INST_NP["voice oohs"],
    "brass ensemble": ("a brass ensemble", "ein Blechbläserensemble", "un ensemble de cuivres", "un conjunto de metales"),
    "wind quintet": ("a wind quintet", "ein Bläserquintett", "un quintette à vent", "un quinteto de viento"),
    "saxophone quartet": ("a saxophone quartet", "ein Saxophonquartett", "un quatuor de saxophones", "un cuarteto de saxofones"),
    "recorder consort": ("a recorder consort", "ein Blockflötenensemble", "un ensemble de flûtes à bec", "un conjunto de flautas dulces"),
    "synth pad ensemble": ("layered synth pads", "geschichtete Synthesizer-Flächen", "des nappes de synthé", "capas de pads de sintetizador"),
    "mixed consort": ("a consort of recorder and strings", "ein Ensemble aus Blockflöte und Streichern", "un ensemble de flûte à bec et cordes", "un conjunto de flauta dulce y cuerdas"),
    "drum kit": INST_NP["drum kit"],
    "rock band": ("a rock band", "eine Rockband", "un groupe de rock", "una banda de rock"),
    "synthesizers and drum machine": ("synthesizers and a drum machine", "Synthesizer und ein Drumcomputer", "des synthétiseurs et une boîte à rythmes", "sintetizadores y una caja de ritmos"),
}
_PLURAL_ENS = {"synth pad ensemble", "synthesizers and drum machine"}
_PLURAL_INST = {"pizzicato strings"}

# Styles: (en, (de nominative, de accusative), fr, es)
STYLE_NP: dict[str, tuple[str, tuple[str, str], str, str]] = {
    "folk song": ("a folk song", ("ein Volkslied", "ein Volkslied"), "une chanson populaire", "una canción popular"),
    "tune": ("a traditional tune", ("eine traditionelle Melodie", "eine traditionelle Melodie"), "un air traditionnel", "una melodía tradicional"),
    "reel": ("a reel", ("ein Reel", "einen Reel"), "un reel", "un reel"),
    "jig": ("a jig", ("ein Jig", "einen Jig"), "une gigue", "una giga"),
    "slip jig": ("a slip jig", ("ein Slip Jig", "einen Slip Jig"), "une slip jig", "una slip jig"),
    "hornpipe": ("a hornpipe", ("eine Hornpipe", "eine Hornpipe"), "un hornpipe", "un hornpipe"),
    "strathspey": ("a strathspey", ("ein Strathspey", "einen Strathspey"), "un strathspey", "un strathspey"),
    "fling": ("a Highland fling", ("ein Highland Fling", "einen Highland Fling"), "un Highland fling", "un Highland fling"),
    "clog": ("a clog dance", ("ein Clog-Tanz", "einen Clog-Tanz"), "une danse en sabots", "un baile de zuecos"),
    "air": ("a slow air", ("eine langsame Weise", "eine langsame Weise"), "un air lent", "un aire lento"),
    "waltz": ("a waltz", ("ein Walzer", "einen Walzer"), "une valse", "un vals"),
    "march": ("a march", ("ein Marsch", "einen Marsch"), "une marche", "una marcha"),
    "slide": ("a slide", ("ein Slide", "einen Slide"), "une slide", "un slide"),
    "walkaround": ("a walkaround", ("ein Walkaround", "einen Walkaround"), "un walkaround", "un walkaround"),
    "chorale": ("a chorale", ("ein Choral", "einen Choral"), "un choral", "un coral"),
    "mass movement": ("a mass movement", ("ein Messsatz", "einen Messsatz"), "un mouvement de messe", "un movimiento de misa"),
    "madrigal": ("a madrigal", ("ein Madrigal", "ein Madrigal"), "un madrigal", "un madrigal"),
    "medieval piece": ("a medieval piece", ("ein mittelalterliches Stück", "ein mittelalterliches Stück"), "une pièce médiévale", "una pieza medieval"),
    "quartet movement": ("a Classical-era chamber piece", ("ein klassisches Kammermusikstück", "ein klassisches Kammermusikstück"), "une pièce de musique de chambre classique", "una pieza de música de cámara clásica"),
    "ambient": ("an ambient piece", ("ein Ambient-Stück", "ein Ambient-Stück"), "une pièce ambient", "una pieza ambient"),
}
_DRUM_DE = {"rock": "Rock", "funk": "Funk", "disco": "Disco", "half-time": "Halftime",
            "breakbeat": "Breakbeat", "bossa nova": "Bossa-Nova", "reggae": "Reggae",
            "shuffle": "Shuffle", "swing": "Swing"}
_ELEC_DE = {"house": "House", "techno": "Techno", "trance": "Trance", "synth-pop": "Synthpop",
            "drum and bass": "Drum-and-Bass", "electro": "Electro"}
_ROCK_DE = {"rock": "Rock", "hard rock": "Hardrock", "punk": "Punk", "pop rock": "Poprock"}

_TONIC = {  # pitch class → (en, de major, de minor, fr, es)
    0: ("C", "C", "c", "do", "do"), 1: ("C-sharp", "Cis", "cis", "do dièse", "do sostenido"),
    2: ("D", "D", "d", "ré", "re"), 3: ("E-flat", "Es", "es", "mi bémol", "mi bemol"),
    4: ("E", "E", "e", "mi", "mi"), 5: ("F", "F", "f", "fa", "fa"),
    6: ("F-sharp", "Fis", "fis", "fa dièse", "fa sostenido"), 7: ("G", "G", "g", "sol", "sol"),
    8: ("A-flat", "As", "gis", "la bémol", "la bemol"), 9: ("A", "A", "a", "la", "la"),
    10: ("B-flat", "B", "b", "si bémol", "si bemol"), 11: ("B", "H", "h", "si", "si"),
}
_MODE = {  # mode → (de, fr, es)
    "major": ("Dur", "majeur", "mayor"), "minor": ("Moll", "mineur", "menor"),
    "dorian": ("Dorisch", "dorien", "dórico"), "phrygian": ("Phrygisch", "phrygien", "frigio"),
    "lydian": ("Lydisch", "lydien", "lidio"), "mixolydian": ("Mixolydisch", "mixolydien", "mixolidio"),
    "locrian": ("Lokrisch", "locrien", "locrio"),
}
_ORIGIN = {  # English name → (en, de, fr, es) phrases
    "Germany": ("from Germany", "aus Deutschland", "d'Allemagne", "de Alemania"),
    "China": ("from China", "aus China", "de Chine", "de China"),
    "Luxembourg": ("from Luxembourg", "aus Luxemburg", "du Luxembourg", "de Luxemburgo"),
    "Lorraine": ("from Lorraine", "aus Lothringen", "de Lorraine", "de Lorena"),
    "Austria": ("from Austria", "aus Österreich", "d'Autriche", "de Austria"),
    "Switzerland": ("from Switzerland", "aus der Schweiz", "de Suisse", "de Suiza"),
    "Ireland": ("from Ireland", "aus Irland", "d'Irlande", "de Irlanda"),
    "Netherlands": ("from the Netherlands", "aus den Niederlanden", "des Pays-Bas", "de los Países Bajos"),
    "Romania": ("from Romania", "aus Rumänien", "de Roumanie", "de Rumanía"),
    "Poland": ("from Poland", "aus Polen", "de Pologne", "de Polonia"),
    "Russia": ("from Russia", "aus Russland", "de Russie", "de Rusia"),
    "Hungary": ("from Hungary", "aus Ungarn", "de Hongrie", "de Hungría"),
    "Italy": ("from Italy", "aus Italien", "d'Italie", "de Italia"),
    "France": ("from France", "aus Frankreich", "de France", "de Francia"),
    "Scotland": ("from Scotland", "aus Schottland", "d'Écosse", "de Escocia"),
    "Alsace": ("from Alsace", "aus dem Elsass", "d'Alsace", "de Alsacia"),
}
_TEMPO = {  # class → (en adj, de phrase, de adj-noun, fr adj, es adj)
    "slow": ("slow", "in langsamem Tempo", "Langsames Tempo", "lent", "lento"),
    "moderate": ("moderate", "in gemäßigtem Tempo", "Gemäßigtes Tempo", "modéré", "moderado"),
    "fast": ("fast", "in schnellem Tempo", "Schnelles Tempo", "rapide", "rápido"),
}
_DYN = {"soft": ("softly", "leise", "doucement", "suavemente"),
        "loud": ("loudly", "laut", "fort", "con fuerza")}
_VERB = {"en": ("plays", "play"), "de": ("spielt", "spielen"), "fr": ("joue", "jouent"),
         "es": ("toca", "tocan")}
_AND = {"en": "and", "de": "und", "fr": "et", "es": "y"}
_LI = {lang: i for i, lang in enumerate(LANGS)}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("{S} {V} {O}{C}{K}{T}.", "{N}{G}{C}{K}, performed by {s}.",
           "{S} {V} {O}{M} {D}, at {B} BPM.", "{TA} {n}{K} for {b}.",
           "{n}, {b}, {ta}{KW}"),
    "de": ("{S} {V} {O}{C}{K}{T}.", "{N}{G}{C}{K} – Besetzung: {b}.",
           "{S} {V} {D} {O}{M}, {B} BPM.", "{TA}: {n_de}{K} für {b}.",
           "{n}, {b}, {ta}{KW}"),
    "fr": ("{S} {V} {O}{C}{K}{T}.", "{N}{G}{C}{K} — instrumentation : {b}.",
           "{S} {V} {D} {O}{M}, à {B} BPM.", "Tempo {ta} : {n_de}{K} pour {b}.",
           "{n}, {b}, {ta}{KW}"),
    "es": ("{S} {V} {O}{C}{K}{T}.", "{N}{G}{C}{K}; instrumentación: {b}.",
           "{S} {V} {D} {O}{M}, a {B} BPM.", "Tempo {ta}: {n_de}{K} para {b}.",
           "{n}, {b}, {ta}{KW}"),
}
"""Caption templates. Slots: S/s subject, V verb, O/N style (object/subject case), n bare
style, b bare instruments, C composer, G origin, K key (exact keys only), T tempo phrase,
TA/ta tempo word, B BPM, M meter, D dynamics adverb, KW key keyword."""

_ARTICLE = re.compile(r"^(a|an|ein|eine|einen|un|une|des|una|unos)\s+", re.IGNORECASE)


def _bare(np_: str) -> str:
    return _ARTICLE.sub("", np_)


def _style_np(labels: Mapping[str, Any], li: int) -> tuple[str, str]:
    """(object-case, subject-case) indefinite noun phrase of the clip's style."""
    style, coll = str(labels.get("style") or "tune"), labels.get("collection")
    if coll == "drum_grooves":
        forms = (f"a {style} drum groove", (f"ein {_DRUM_DE.get(style, style)}-Groove",
                                            f"einen {_DRUM_DE.get(style, style)}-Groove"),
                 f"un groove de batterie {style}", f"un ritmo de batería de {style}")
    elif coll == "electronic":
        forms = (f"a {style} track", (f"ein {_ELEC_DE.get(style, style)}-Track",
                                      f"einen {_ELEC_DE.get(style, style)}-Track"),
                 f"un morceau de {style}", f"un tema de {style}")
    elif coll == "rock":
        forms = (f"a {style} backing track", (f"ein {_ROCK_DE.get(style, style)}-Begleittrack",
                                              f"einen {_ROCK_DE.get(style, style)}-Begleittrack"),
                 f"un accompagnement {style}", f"una base de {style}")
    else:
        forms = STYLE_NP.get(style, STYLE_NP["tune"])
    if li == 1:
        return forms[1][1], forms[1][0]
    return forms[li], forms[li]  # type: ignore[return-value]


def _subject(labels: Mapping[str, Any], li: int) -> tuple[str, bool, str]:
    """(indefinite noun phrase of who plays, plural?, the same without articles)."""
    label = str(labels.get("instrument") or "")
    if label in ENS_NP:
        np_ = ENS_NP[label][li]
        return np_, label in _PLURAL_ENS, _bare(np_)
    names = [n.strip() for n in label.split("+") if n.strip() in INST_NP] or ["piano"]
    nps = [INST_NP[n][li] for n in names]
    if len(nps) == 1:
        return nps[0], names[0] in _PLURAL_INST, _bare(nps[0])

    def join(xs: list[str]) -> str:
        return ", ".join(xs[:-1]) + f" {_AND[LANGS[li]]} " + xs[-1]

    return join(nps), True, join([_bare(x) for x in nps])


def tempo_class(labels: Mapping[str, Any]) -> str:
    """"slow" | "moderate" | "fast" from ``tempo_bpm`` and ``notes_per_s`` (as the tags)."""
    bpm, rate = labels.get("tempo_bpm") or 100.0, labels.get("notes_per_s") or 4.0
    if rate >= 6.0 or bpm >= 150:
        return "fast"
    if rate <= 2.5 and bpm <= 80:
        return "slow"
    return "moderate"


def _key_phrase(labels: Mapping[str, Any], li: int) -> str:
    if not labels.get("key_exact") or labels.get("tonic") is None or not labels.get("mode"):
        return ""
    pc, mode = int(labels["tonic"]) % 12, str(labels["mode"])
    t = _TONIC[pc]
    if li == 0:
        return f" in {t[0]} {mode}"
    if li == 1:
        name = t[2] if mode == "minor" else t[1]
        return f" in {name}-{_MODE[mode][0]}"
    return f" en {t[li + 1]} {_MODE[mode][li - 1]}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _composer(labels: Mapping[str, Any]) -> str | None:
    c = labels.get("composer")
    if not c or str(c).lower() in ("traditional", "anonymous", "trad", "trad."):
        return None
    c = str(c).strip().rstrip(".")
    return c.title() if c.isupper() else c


def compose_captions(labels: Mapping[str, Any], seed: int = 0, per_lang: int = 2) -> list[dict[str, str]]:
    """``per_lang`` captions per language (en, de, fr, es) for one clip's labels.

    Template choice is seeded by (``seed``, ``clip_id``), so captions are deterministic.
    Returns ``[{"lang": "en", "text": ...}, ...]``.
    """
    rng = np.random.default_rng(stable_hash(seed, labels.get("clip_id"), "captions"))
    tempo = tempo_class(labels)
    out = []
    for lang in LANGS:
        li = _LI[lang]
        subj, plural, bare_subj = _subject(labels, li)
        obj, nom = _style_np(labels, li)
        comp = _composer(labels)
        origin = _ORIGIN.get(str(labels.get("origin")), None)
        meter = labels.get("meter")
        bpm = labels.get("tempo_bpm")
        dyn = _DYN.get(str(labels.get("dynamics")), ("", "", "", ""))[li]
        tw = _TEMPO[tempo]
        key = _key_phrase(labels, li)
        slots = {
            "S": _cap(subj), "s": subj, "V": _VERB[lang][int(plural)], "O": obj, "N": _cap(nom),
            "n": _bare(nom), "n_de": nom, "b": bare_subj,
            "C": "" if comp is None else {"en": f" by {comp}", "de": f" von {comp}",
                                          "fr": f" de {comp}", "es": f" de {comp}"}[lang],
            "G": "" if origin is None else " " + origin[li],
            "K": key, "KW": ("," + key.replace(" in ", " ").replace(" en ", " ")) if key else "",
            "T": " " + ({"en": f"at a {tw[0]} tempo", "de": tw[1],
                         "fr": f"sur un tempo {tw[3]}", "es": f"a un tempo {tw[4]}"}[lang]),
            "TA": {"en": _cap(tw[0]), "de": tw[2], "fr": tw[3], "es": tw[4]}[lang],
            "ta": {"en": tw[0], "de": tw[2].split()[0].lower().rstrip("es"), "fr": tw[3],
                   "es": tw[4]}[lang],
            "B": f"{bpm:.0f}" if isinstance(bpm, int | float) else "?",
            "M": "" if not meter else {"en": f" in {meter} time", "de": f" im {meter}-Takt",
                                       "fr": f" à {meter}", "es": f" en compás de {meter}"}[lang],
            "D": dyn,
        }
        templates = TEMPLATES[lang]
        if not isinstance(bpm, int | float):
            templates = tuple(t for t in templates if "{B}" not in t)
        picks = rng.choice(len(templates), size=min(per_lang, len(templates)), replace=False)
        for i in sorted(int(p) for p in picks):
            text = templates[i].format(**slots)
            text = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
            if lang == "fr":
                text = re.sub(r"\s*([:;])", r" \1", text).replace(" ,", ",")
            out.append({"lang": lang, "text": _cap(text)})
    return out
