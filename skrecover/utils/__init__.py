"""Utilities for developers of estimators: the package's own estimator checks."""

# SPDX-License-Identifier: BSD-3-Clause
