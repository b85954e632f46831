"""Colours and markers shared by the figures."""

# Okabe-Ito colours, told apart by colour-blind readers too.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# QC statuses; markers differ as well as colours.
STATUS_STYLE = {
    "pass": {"color": "#009E73", "marker": "o"},
    "warn": {"color": "#E69F00", "marker": "s"},
    "fail": {"color": "#D55E00", "marker": "X"},
}
# Large screens: a bounded picture.
MAX_OVERVIEW_WIDTH_IN = 20.0
