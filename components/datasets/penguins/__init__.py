"""Palmer penguins: is the penguin male? From its measurements, island and species.

The data ships inside the `palmerpenguins` wheel (0.1.6, pinned in requirements.lock):
`palmerpenguins/data/penguins.csv`, 344 rows, 8 columns, missing values written "NA".
`bundled_csv` prepares a copy for TFX (see PROVENANCE.md):

- "NA" becomes an empty cell, which TFX's CSV reader takes as missing;
- the 11 rows without a label (sex "NA") are left out: a training set needs labels, and
  the validation gate stops data with a missing label input (the curated schema requires
  `sex` in every row). 333 rows are left (168 male, 165 female). The two rows with no
  measurements at all are among the 11, so no value is missing in the prepared copy.

Columns and values are kept as they are. There is no `sample.csv`: the whole prepared
set is small enough for tests. `schema.pbtxt` is the curated schema.
"""

import csv
import io
import os
import tempfile
from importlib import resources

from components.dataset import Dataset, Label
from components.features import FLOAT, INT, STRING, Feature, Numeric, Vocabulary

SOURCE = ("palmerpenguins", "data/penguins.csv")  # package, path inside it
PREPARED = "penguins.csv"  # the prepared copy's name in the folder it is written to
MISSING = "NA"
LABEL_INPUT = "sex"


def prepare(text: str) -> str:
    """penguins.csv as shipped -> the prepared CSV text: "NA" -> "", unlabelled rows out."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    label = header.index(LABEL_INPUT)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in reader:
        if row[label] != MISSING:
            writer.writerow(["" if value == MISSING else value for value in row])
    return out.getvalue()


def bundled_csv(folder: str) -> str:
    """The prepared copy of the data the palmerpenguins package ships, written into `folder`
    (atomically; left alone when an identical copy is already there); returns its path."""
    source = resources.files(SOURCE[0]).joinpath(SOURCE[1])
    if not source.is_file():
        raise FileNotFoundError(f"the bundled penguins data is missing from the {SOURCE[0]} package: {source}")
    content = prepare(source.read_text(encoding="utf-8")).encode("utf-8")
    folder = folder or os.curdir
    path = os.path.join(folder, PREPARED)
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == content:
                return path
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{PREPARED}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


DATASET = Dataset(
    name="penguins",
    title="Palmer penguins: is the penguin male, from its measurements, island and species?",
    model_name="penguin_sex",
    package=__name__,
    features=(
        Numeric("bill_length_mm", FLOAT),
        Numeric("bill_depth_mm", FLOAT),
        Numeric("flipper_length_mm", INT),
        Numeric("body_mass_g", INT),
        Vocabulary("species", STRING),
        Vocabulary("island", STRING),
    ),
    label=Label(
        name="is_male",
        inputs=(Feature(LABEL_INPUT, STRING),),
        fn="components.datasets.penguins.label.is_male",
        reads=(LABEL_INPUT,),
    ),
    unused=(
        Feature("year", INT),  # the study year (2007-2009): not a property of the penguin
    ),
    slices=("species", "island"),
    bundled="components.datasets.penguins.bundled_csv",
    # The measurements get a little multiplicative noise when the data is scaled up.
    jitter={"bill_length_mm": 0.03, "bill_depth_mm": 0.03, "flipper_length_mm": 0.03, "body_mass_g": 0.03},
)
