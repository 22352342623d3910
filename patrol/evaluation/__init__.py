"""Evaluation of forecasts and routes against what happened (design.md "Measures we report").

Hotspot forecasts (issue 6, part 1):

- :mod:`~patrol.evaluation.events` -- incidents as time-sorted column arrays;
- :mod:`~patrol.evaluation.grid` -- square cells on the city projection, the city's area;
- :mod:`~patrol.evaluation.measures` -- hit rate and PAI, ties split proportionally;
- :mod:`~patrol.evaluation.backtest` -- the rolling-origin driver with its look-ahead guard;
- :mod:`~patrol.evaluation.compare` -- paired comparison (block bootstrap, Wilcoxon);
- :mod:`~patrol.evaluation.report` -- the report dict, text table and Markdown section.

The forecasters themselves are in :mod:`patrol.forecast`. Everything here is pure: arrays and
forecasters in, numbers out; reading files and drawing plots is :mod:`simulators.backtest`'s.
"""
