"""Results of a run and the reports made from them."""
