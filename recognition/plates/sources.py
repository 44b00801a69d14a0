"""Public GitHub repositories with real, labelled plate images, as verified for issue 17.

Each `Source` pins a commit of a repository that `fetch github:OWNER/NAME` mirrors under
`/work/.mirror/OWNER+NAME/repo`; `recognition.plates.rebuild` reads them from there with
git (no network) and writes one plates manifest. Image counts were checked on the mirrors
(JPEG/PNG bytes in the repository, not LFS pointers). Nothing here is copied into the
project repository.

`use` decides the split: "train" sources are hashed 80/10/10 into train/val/test,
"eval-only" sources (no licence, non-commercial or unclear terms) go to test only and
are never trained on. `group` is the first folder of every file in the manifest, so
`lanecap eval plates` reports it under `per_group`: `us`, `eu`, `br` (Brazil and other
Mercosur plates) or `mixed` (world-wide photos, mostly US/EU, no region per image).

Label formats (`LabelFormat`):

* `voc`: Pascal VOC xml per image under `labels`, image named by `<filename>`;
* `yolo`: `images/` + `labels/` (`cls cx cy w h`, normalised; polygons boxed);
* `coco`: one `_annotations.coco.json` per folder, `bbox` = x, y, w, h in pixels;
* `simanno`: pairs `images_dir:database.db`, a simanno SQLite annotation database
  (`annotations.imgareas`, boxes in pixels);
* `csv`: plate crops with text, `image_path,plate_text` (path relative to the csv's
  parent folder);
* `name_text`: plate crops whose file stem is the plate text;
* `yolo_chars`: plate crops with YOLO character boxes; the text is the character
  classes read left to right (`char_classes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LabelFormat = Literal["voc", "yolo", "coco", "simanno", "csv", "name_text", "yolo_chars"]
Group = Literal["us", "eu", "br", "mixed"]
Use = Literal["train", "eval-only"]

DIGITS_LETTERS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Source:
    """One labelled folder set of one repository at one commit.

    `paths` are folders inside the repository (for `yolo`: each holds `images/` and
    `labels/`; for `voc`: pairs `images_dir:labels_dir`; for `coco` and `csv`: the
    folder of the json or the csv file itself). `classes` keeps only those class
    names/ids as plates (None: every class). `roboflow_keep_one` keeps one image per
    original photo of a Roboflow export (`<stem>_jpg.rf.<hash>.jpg` copies).
    """

    name: str
    repo: str
    commit: str
    paths: tuple[str, ...]
    label_format: LabelFormat
    group: Group
    licence: str
    use: Use
    images_verified: int
    note: str
    classes: tuple[str, ...] | None = None
    roboflow_keep_one: bool = False
    text_pattern: str | None = None
    char_classes: tuple[str, ...] = DIGITS_LETTERS

    @property
    def mirror_name(self) -> str:
        """Folder name under the mirrors root: `owner+name`."""
        return self.repo.replace("/", "+")


SOURCES: tuple[Source, ...] = (
    Source(
        name="romania-train",
        repo="RobertLucian/license-plate-dataset",
        commit="f00f309e4564e7f386fd7641569d861e2910d65f",
        paths=("dataset/train/images:dataset/train/annots",),
        label_format="voc",
        group="eu",
        licence="MIT (LICENSE)",
        use="train",
        images_verified=427,
        note=(
            "Romanian dashcam frames 1280x720, plate boxes, no text. Only the train split: "
            "its valid split is ../shared/data romania-detect (the shipped detector's dev "
            "set); frames were split by frame upstream, so near-duplicates of dev frames "
            "exist here."
        ),
    ),
    Source(
        name="anpr-roboflow",
        repo="chirag-agrawal24/ANPR",
        commit="66862c58f72b47a89b81ee0c6ae86ea42f07ca8d",
        paths=tuple(
            f"yolo_training/content/experiment-plates-1/{s}" for s in ("train", "valid", "test")
        ),
        label_format="yolo",
        group="mixed",
        licence="MIT (Roboflow dataset README); repository LICENSE Apache-2.0",
        use="train",
        images_verified=2640,
        note=(
            "Roboflow 'experiment-plates' export, 300x300 stretched, boxes only; 907 distinct "
            "photos in 2640 files (copies named <stem>_jpg.rf.<hash>): one kept per photo. "
            "US and Indian plates (some copies noised); no region per image."
        ),
        roboflow_keep_one=True,
    ),
    Source(
        name="openimages-google-plates",
        repo="unknowncz/LP_recognition",
        commit="ecd25180ff577a39e4cf06cabb123771d503422c",
        paths=("LP_Detection/train", "LP_Detection/valid"),
        label_format="coco",
        group="mixed",
        licence="CC BY 4.0 (Roboflow dataset README); Open Images photos CC BY 2.0",
        use="train",
        images_verified=1800,
        note=(
            "Roboflow 'Google Licence Plates' (Open Images subset), COCO boxes (1800 listed of "
            "1605+455 files), world-wide "
            "Flickr photos (mostly US/EU). No repository LICENSE: the terms are the "
            "dataset's (attribution). Open Images ids group copies."
        ),
        roboflow_keep_one=True,
    ),
    Source(
        name="openimages-plates-f8vsn",
        repo="TechKhid/LicensePlateDetection",
        commit="3cfcd736d880bb2abe7fddab3d26b73cab1c0f01",
        paths=("Lp/train", "Lp/valid", "Lp/test"),
        label_format="yolo",
        group="mixed",
        licence="CC BY 4.0 annotations, CC BY 2.0 images (Roboflow dataset README)",
        use="train",
        images_verified=350,
        note=(
            "Roboflow samrat-sahoo/license-plates-f8vsn v3 (Open Images subset), classes "
            "license-plate (0) and vehicle (1): only 0 kept. Overlaps the Google plates "
            "source (same Open Images ids are deduplicated by id)."
        ),
        classes=("0",),
        roboflow_keep_one=True,
    ),
    Source(
        name="open-lpr",
        repo="faisalthaheem/open-lpr-dataset-plate-detection",
        commit="7251620bb3405a230eea1516a361dd7367818b88",
        paths=("train:train.db", "val:val.db"),
        label_format="simanno",
        group="mixed",
        licence="Apache-2.0 (LICENSE)",
        use="train",
        images_verified=2597,
        note=(
            "OpenLPR plate detection set: close-up photos of parked cars (mostly Pakistani "
            "plates, 960x1280 phone photos and smaller), one box per plate, no text; "
            "boxes in a simanno SQLite database per folder (2,611 files, 2,598 of them listed there, one not an image). Split here 80/10/10 like "
            "the other train sources (the repository's own val folder is mixed in)."
        ),
    ),
    Source(
        name="uc3m-lp-scenes",
        repo="efm092000/Visi-n-por-Computador",
        commit="804e3975e033431137e0835511a18567e96c6892",
        paths=(
            "practica4/datasets/UC3M-LP-yolo/LP/images/train:practica4/datasets/UC3M-LP-yolo/LP/labels/train",
            "practica4/datasets/UC3M-LP-yolo/LP/images/val:practica4/datasets/UC3M-LP-yolo/LP/labels/val",
        ),
        label_format="yolo",
        group="eu",
        licence="ODbL, commercial use on request (UC3M-LP upstream: CC BY-NC-ND)",
        use="eval-only",
        images_verified=1975,
        note="Spanish street scenes, YOLO plate boxes, no text (UC3M-LP, Madrid).",
    ),
    Source(
        name="uc3m-lp-crops",
        repo="efm092000/Visi-n-por-Computador",
        commit="804e3975e033431137e0835511a18567e96c6892",
        paths=(
            "practica4/datasets/UC3M-LP-yolo/OCR/images/train:practica4/datasets/UC3M-LP-yolo/OCR/labels/train",
            "practica4/datasets/UC3M-LP-yolo/OCR/images/val:practica4/datasets/UC3M-LP-yolo/OCR/labels/val",
        ),
        label_format="yolo_chars",
        group="eu",
        licence="ODbL, commercial use on request (UC3M-LP upstream: CC BY-NC-ND)",
        use="eval-only",
        images_verified=2547,
        note=(
            "Spanish plate crops with character boxes; text = classes left to right (two-row "
            "plates, about 1 %, read in x order and so may be wrong)."
        ),
    ),
    Source(
        name="argentina-crops",
        repo="ankandrew/fast-plate-ocr",
        commit="dead79f316ef9078548ebf90072d2a05056c83de",
        paths=("assets/benchmark/anotaciones.csv",),
        label_format="csv",
        group="br",
        licence="GPL-3.0 at this commit (MIT at HEAD)",
        use="eval-only",
        images_verified=147,
        note="Argentine plate crops, old and Mercosur layouts, with text: Mercosur reading only.",
    ),
    Source(
        name="us-reported-crops",
        repo="snooplsm/reported-ocr",
        commit="2cb4162ab2ae936ddfcd4f7e5bed0daae33cb456",
        paths=("img",),
        label_format="name_text",
        group="us",
        licence="none (no LICENSE)",
        use="eval-only",
        images_verified=1961,
        note=(
            "US plate crops img/<STATE>/<PLATE>.jpg (NY, NJ, PA, CT...); files not named by "
            "a plate (timestamps, unlabelled) are skipped."
        ),
        text_pattern=r"^[A-Z0-9]{2,8}$",
    ),
)
# Sources found but not used (kept here so nobody re-checks them):
#
# * `aruasouza/deteccao-placas-de-carro` 357f9c9 `datasets/test/`: 849 Brazilian vehicle photos
# (RodoSol-ALPR `cars-br`/`cars-me`, old and Mercosur) named by plate text, no boxes, no
# LICENSE; RodoSol is by request, non-commercial, no redistribution. Not usable: a manifest
# row without a box is read as a plate crop.
# * `raysonlaroca/ufpr-alpr-dataset`: README and licence only (by request, non-commercial).
# * `biancabuleu/car_plate_detection_yolov12`: labels only, images on Google Drive, CC BY-NC 4.0.
# Checked in session 9:
# * `samuelpdsv/Computer-Vision-MERCOSUL-ALPR` d8e268a `dataset/train`: about 450 Mercosur
# photos, YOLO polygons for about 257, CC BY 4.0 per its Roboflow README; no mirror could be
# fetched here, so not verified. The best lead for real Mercosur boxes.
# * `simje71380/Polish-licence-plates-recognition`: 64 labelled web images stretched to 640x640,
# no repository licence. Too few, provenance unclear.
# * `daniellyqueiroz/IA-classificacao-placas-veiculos`: 294 loose Brazilian grey-plate crops
# named by text, no licence: evaluation at most.


def by_name(names: tuple[str, ...] | None = None) -> tuple[Source, ...]:
    """The sources with these names (all when None); unknown names raise KeyError."""
    if not names:
        return SOURCES
    table = {s.name: s for s in SOURCES}
    missing = [n for n in names if n not in table]
    if missing:
        raise KeyError(f"unknown sources {missing}; known: {sorted(table)}")
    return tuple(table[n] for n in names)
