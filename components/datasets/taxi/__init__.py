"""Chicago Taxi trips: did the rider tip more than 20 % of the fare ("big tipper")?

The data ships inside the tfx wheel (15,002 rows, 18 columns, many missing values; see
PROVENANCE.md). `sample.csv` is a 400-row sample of it for tests; `schema.pbtxt` is the
curated schema.
"""

import os

from components.dataset import Dataset, Label
from components.features import FLOAT, INT, STRING, Feature, Numeric, Ordinal, Quantiles, Vocabulary


def bundled_csv(folder: str) -> str:
    """The sample TFX's own examples use, read from the installed tfx package."""
    import tfx

    path = os.path.join(os.path.dirname(tfx.__file__), "examples", "chicago_taxi_pipeline",
                        "data", "simple", "data.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"the bundled Chicago Taxi sample is missing from the tfx package: {path}")
    return path


DATASET = Dataset(
    name="taxi",
    title="Chicago Taxi trips: did the rider tip more than 20 % of the fare?",
    model_name="big_tipper",
    package=__name__,
    features=(
        Numeric("trip_miles", FLOAT, log=True),
        Numeric("fare", FLOAT, log=True),
        Numeric("trip_seconds", INT, log=True),
        Ordinal("trip_start_hour", INT, low=0, high=23),
        Ordinal("trip_start_day", INT, low=1, high=7),
        Ordinal("trip_start_month", INT, low=1, high=12),
        Vocabulary("payment_type", STRING),
        Vocabulary("company", STRING, min_count=5),
        Vocabulary("pickup_community_area", INT),
        Vocabulary("dropoff_community_area", INT),
        Vocabulary("dropoff_census_tract", INT, min_count=5),
        Quantiles("pickup_latitude", FLOAT),
        Quantiles("pickup_longitude", FLOAT),
        Quantiles("dropoff_latitude", FLOAT),
        Quantiles("dropoff_longitude", FLOAT),
    ),
    label=Label(
        name="big_tipper",
        inputs=(Feature("tips", FLOAT),),
        fn="components.datasets.taxi.label.big_tipper",
        reads=("tips", "fare"),
    ),
    unused=(
        Feature("trip_start_timestamp", INT),
        Feature("pickup_census_tract", INT),  # missing in all but one row of the sample
    ),
    slices=("payment_type", "trip_start_hour"),
    bundled="components.datasets.taxi.bundled_csv",
    # Continuous columns that get a little multiplicative noise when the data is scaled up.
    jitter={"fare": 0.05, "tips": 0.05, "trip_miles": 0.05, "trip_seconds": 0.05},
)
