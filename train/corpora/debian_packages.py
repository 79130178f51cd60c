"""Which Debian packages make the real-recording corpus, and how to list their files.

Only the packages named in :data:`PACKAGES` are used: other public Debian music packages are
reserved for unseen evaluation. Each :class:`PackageSpec` says which of the package's files
are music (a regular expression on the installed path, or ``archive!member`` for files inside
zip archives) and which labels to distrust. Sound effects, speech and ambience folders are left
out by these patterns; what remains is checked again by duration and the loop detector.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PackageSpec:
    """One package: which files are music, and labels to drop (placeholders)."""

    name: str
    include: str = r"(?i)/music/"  # regular expression on "/installed/path[!member]"
    exclude: str | None = None
    large: bool = False  # only with --large (0.2–1.3 GB downloads)
    drop_labels: tuple[str, ...] = ()
    text: str = "file tags"  # the main text source, for the docs and the report


def _specs(*specs: PackageSpec) -> dict[str, PackageSpec]:
    return {s.name: s for s in specs}


PACKAGES: dict[str, PackageSpec] = _specs(
    # the seven packages of the first corpus (~15.6 h)
    PackageSpec("warzone2100-music", r"."),
    PackageSpec("ufoai-music", r"(?i)!music/"),  # base/0music.pk3 (zip)
    PackageSpec("planetblupi-music-ogg", r"."),
    PackageSpec("supertux-data", r"(?i)/music/"),
    PackageSpec("hedgewars-data", r"(?i)/music/"),
    PackageSpec("freedroidrpg-data", r"(?i)/music/|/titles/[^/]+\.ogg$"),
    PackageSpec("drascula-music", r"."),
    # tags in or beside the files
    PackageSpec("nexuiz-music", r"(?i)!sound/cdtracks/"),  # data/music.pk3 (zip)
    PackageSpec("blobwars-data", r"/music/", text=".tags sidecars"),  # files without extension
    PackageSpec("marsshooter-data", r"/audio/(music/|menu\.ogg$|tutorial\.ogg$)"),
    PackageSpec("wizznic-data", r"/music/|menu-music\.ogg$", drop_labels=("bpm",)),
    PackageSpec("fretsonfire-songs-muldjord", r"/songs/", text="song.ini + file tags"),
    PackageSpec("fretsonfire-songs-sectoid", r"/songs/", text="song.ini"),
    PackageSpec("davegnukem-data"),
    PackageSpec("adonthell-data", r"/wastesedge/audio/"),
    PackageSpec("enigma-data"),
    PackageSpec("starfighter-data"),
    PackageSpec("xmoto-data", r"/Musics/"),
    PackageSpec("lordsawar-data"),
    PackageSpec("amoebax-data"),
    PackageSpec("renpy-demo", r"/demo/game/"),
    PackageSpec("miceamaze"),
    # tracker modules, rendered with openmpt123
    PackageSpec("ironseed-data", r"(?i)/sound/.*\.mod$", text="module"),
    PackageSpec("tecnoballz-data", r"/musics/", text="module"),
    PackageSpec("pekka-kana-2-data", text="module"),
    PackageSpec("heroes-sound-tracks", r"/mod/", text="module"),
    PackageSpec("pingus-data", text="module"),
    PackageSpec("rafkill-data", r"(?i)/music/|/intro\.mod$", text="module"),
    PackageSpec("pachi-data", text="module"),
    PackageSpec("biniax2-data", text="module"),
    PackageSpec("bomberclone-data", text="module"),
    PackageSpec("madbomber-data", text="module"),
    PackageSpec("gl-117-data", text="module"),
    PackageSpec("circuslinux-data", text="module"),
    PackageSpec("fb-music-high", r"\.xm$", text="module"),
    # file names only
    PackageSpec("flare-game", r"/mods/[^/]+/music/", text="file names"),
    PackageSpec("trackballs-data", text="file names"),
    PackageSpec("warmux-data", text="file names"),
    PackageSpec("fillets-ng-data", r"/fillets-ng/music/", text="file names"),  # not dialogue
    PackageSpec("ardentryst", r"/Music/", text="file names"),
    PackageSpec("asc-music", r".", text="file names"),
    PackageSpec("freecol", r"/resources/music/|/resources/sound/intro\.ogg$",
                text="file names"),
    # large packages (--large)
    PackageSpec("naev-data", r"/snd/music/", large=True),
    PackageSpec("supertuxkart-data", r"/data/music/", large=True, text=".music XML"),
    PackageSpec("widelands-data", r"/data/music/", large=True),
    PackageSpec("berusky2-data", r"/music/", large=True),
    PackageSpec("0ad-data", r"!audio/music/", large=True),  # mods/public/public.zip
    PackageSpec("unknown-horizons", r"/audio/music/", large=True),
    PackageSpec("megaglest-data", r"/music/", large=True),
)
"""Every package the corpus may use, in build order."""

DEMO_PACKAGES: tuple[str, ...] = ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid",
                                  "lordsawar-data", "biniax2-data", "amoebax-data")
"""The real recordings ``lyrebird demo`` adds to its library (death metal, metal, fantasy
game music, tracker electronica, electronic game music; 29 tracks, 1.14 h, 91 MB of downloads
that ``.ci/setup`` installs). Every track of these packages is in the **test** split of the
corpus (all packages, the default seed and fractions), so the demo never shows music a model
trained on; a complete build reports a problem if its split says otherwise
(:func:`lyrebird.train.corpora.debian_splits.outside_test`)."""

DEBIAN_MUSIC_PACKAGES: dict[str, str] = {
    name: PACKAGES[name].include for name in list(PACKAGES)[:7]}
"""The seven packages of the first corpus (package → music path pattern)."""


def selected_packages(large: bool = False, names: list[str] | None = None
                      ) -> list[PackageSpec]:
    """The specs to build: ``names`` (which must be known), or all non-large (+ large)."""
    if names:
        unknown = [n for n in names if n not in PACKAGES]
        if unknown:
            raise ValueError(f"not corpus packages: {', '.join(unknown)} (the corpus uses "
                             "only the packages listed in debian_packages.PACKAGES)")
        return [PACKAGES[n] for n in names]
    return [s for s in PACKAGES.values() if large or not s.large]


@dataclass
class PackageSource:
    """A package's files on disk. ``root`` is ``/`` for installed packages; a folder laid out
    like the installed tree for tests. Paths inside the package are ``/`` + path under root."""

    name: str
    root: Path
    files: list[Path] = field(default_factory=list)
    copyright: Path | None = None

    def package_path(self, path: Path) -> str:
        """The installed path of ``path`` (``/usr/share/…``)."""
        return "/" + path.relative_to(self.root).as_posix()


def package_files(package: str) -> list[Path]:
    """Files installed by a Debian package (``dpkg -L``); empty when it is not installed."""
    try:
        res = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                             timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if res.returncode != 0:
        return []
    return [Path(line) for line in res.stdout.splitlines() if line.startswith("/")]


def installed_package(name: str) -> PackageSource | None:
    """The installed package as a :class:`PackageSource` (None when not installed)."""
    files = [f for f in package_files(name) if f.is_file() and not f.is_dir()]
    if not files:
        return None
    doc = Path("/usr/share/doc") / name / "copyright"
    return PackageSource(name, Path("/"), sorted(files), doc if doc.is_file() else None)


def folder_package(name: str, root: str | os.PathLike) -> PackageSource:
    """A folder laid out like an installed package (tests, unpacked ``.deb`` files); its
    ``usr/share/doc/<name>/copyright`` is used when present."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    doc = root / "usr/share/doc" / name / "copyright"
    return PackageSource(name, root, files, doc if doc.is_file() else None)


def install(packages: list[str]) -> None:
    """``apt-get install`` the packages (needs root and the Debian archive)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   check=True, env=env)


__all__ = ["DEBIAN_MUSIC_PACKAGES", "DEMO_PACKAGES", "PACKAGES", "PackageSource", "PackageSpec",
           "folder_package", "install", "installed_package", "package_files",
           "selected_packages"]
