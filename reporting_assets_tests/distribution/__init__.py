"""Tests of report distribution: the delivery ledger and the email channel."""
