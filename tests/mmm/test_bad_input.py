"""Bad input fails early with DataError or SpecError naming the column (no sampling happens)."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc

CH = ("tv_spend", "search_spend", "social_spend")


def _fit(df, **kw):
    return bc.MMM(CH, seasonality=1).fit(df, "date", "sales", controls=["price"], checks=False, **kw)


def test_negative_spend(study):
    df = study.data.copy()
    df.loc[5, "search_spend"] = -1.0
    with pytest.raises(bc.DataError, match="'search_spend'.*negative"):
        _fit(df)


def test_all_zero_channel(study):
    df = study.data.copy()
    df["social_spend"] = 0.0
    with pytest.raises(bc.DataError, match="'social_spend' is all zeros"):
        _fit(df)


def test_too_few_weeks(study):
    with pytest.raises(bc.DataError, match="'date' spans 20 periods but this model needs at least"):
        _fit(study.data.iloc[:20])


def test_unparseable_date(study):
    df = study.data.copy()
    df["date"] = df["date"].astype(str)
    df.loc[3, "date"] = "not a date"
    with pytest.raises(bc.DataError, match="date column 'date' does not parse"):
        _fit(df)


@pytest.mark.parametrize("col", ["tv_spend", "sales", "price"])
def test_nan_names_the_column(study, col):
    df = study.data.copy()
    df.loc[7, col] = np.nan
    with pytest.raises(bc.DataError, match=f"'{col}' has 1 NaN"):
        _fit(df)


def test_missing_column_gaps_and_duplicates(study):
    with pytest.raises(bc.DataError, match="channel column 'radio' is not in the data"):
        bc.MMM(["tv_spend", "radio"]).fit(study.data, "date", "sales", checks=False)
    with pytest.raises(bc.DataError, match="not evenly spaced"):
        _fit(study.data.drop(index=10))
    with pytest.raises(bc.DataError, match="duplicated dates"):
        _fit(pd.concat([study.data, study.data.iloc[:1]], ignore_index=True))


def test_geo_missing_weeks():
    from bayescausal.datasets.mmm import simulate_mmm

    s = simulate_mmm(n_weeks=60, n_channels=2, geos=2, seed=1)
    df = s.data.drop(index=s.data.index[(s.data["geo"] == "geo_1")][:3])
    with pytest.raises(bc.DataError, match="geo 'geo_1' lacks some of the dates"):
        bc.MMM(s.channels, geo="geo").fit(df, "date", "sales", checks=False)


def test_spec_errors():
    with pytest.raises(bc.SpecError, match="unknown prior name"):
        bc.MMM(CH, priors={"roi": None})
    with pytest.raises(bc.SpecError, match="adstock="):
        bc.MMM(CH, adstock="exponential")
    with pytest.raises(bc.SpecError, match="saturation="):
        bc.MMM(CH, saturation="michaelis")
    with pytest.raises(bc.SpecError, match="batch shape"):
        import numpyro.distributions as dist

        bc.MMM(CH, priors={"roas": dist.LogNormal(np.zeros(2), 1.0)})


def test_lift_test_errors(study):
    lift = pd.DataFrame({"channel": ["radio"], "start": ["2023-03-06"], "end": ["2023-03-27"],
                         "spend_delta": [100.0], "lift": [50.0], "lift_se": [10.0]})
    with pytest.raises(bc.DataError, match="channel 'radio' is not one of"):
        _fit(study.data, lift_tests=lift)
    with pytest.raises(bc.DataError, match="lift_se must be positive"):
        _fit(study.data, lift_tests=lift.assign(channel="tv_spend", lift_se=0.0))
