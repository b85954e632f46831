"""The fitting stage's progress line (issue 15): drugs done and an estimate of
the time left, from the run's table that the workflow starts and each fit job
adds to."""

from pdoscreen.progress import duration, estimate, finish_fit, start_stage


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (4.4, 59.4, 90, 3569, 3600, 7500)] == [
        "4 s", "59 s", "2 min", "59 min", "1 h 00 min", "2 h 05 min"
    ]


def test_time_left_is_the_throughput_so_far_applied_to_the_drugs_left():
    # 2 of 8 drugs done 240 s after the first started: 120 s a drug, 6 to go.
    assert estimate(8, [(1000, 1100), (1000, 1240)], now_s=1240) == (
        "fitting stage: 2 of 8 drugs done in 4 min; about 12 min left"
    )


def test_parallel_jobs_shorten_the_estimate():
    # Two jobs at a time: 4 drugs of 100 s each done in 200 s, 4 to go, 200 s left.
    fits = [(0, 100), (0, 100), (100, 200), (100, 200)]
    assert estimate(8, fits, now_s=200).endswith("4 of 8 drugs done in 3 min; about 3 min left")


def test_the_last_drug_says_the_stage_is_done():
    assert estimate(3, [(0, 30), (0, 40), (10, 50)], now_s=50) == "fitting stage: 3 of 3 drugs done in 50 s"


def test_each_job_adds_its_drug_to_the_run_table(tmp_path):
    record = tmp_path / "logs" / "fit" / "stage.tsv"
    start_stage(record, ["Afatinib", "NA", "5-FU_high"])  # "NA" stays a name, not a missing value
    assert finish_fit(record, "NA", 100.0, 160.0) == "fitting stage: 1 of 3 drugs done in 1 min; about 2 min left"
    assert finish_fit(record, "Afatinib", 100.0, 220.0).startswith("fitting stage: 2 of 3 drugs done in 2 min")
    # A new run starts its own table.
    start_stage(record, ["Afatinib"])
    assert finish_fit(record, "Afatinib", 300.0, 330.0) == "fitting stage: 1 of 1 drugs done in 30 s"


def test_without_a_run_table_there_is_no_progress_line(tmp_path):
    """A fit run by hand, or in a module deployment (whose start handler does
    not run), logs no stage line and leaves no table behind."""
    assert finish_fit(tmp_path / "stage.tsv", "Afatinib", 0.0, 10.0) is None
    assert not (tmp_path / "stage.tsv").exists()
