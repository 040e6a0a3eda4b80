"""Test-session settings shared by every test module."""

from hypothesis import settings


# Property tests draw the same examples on every run and in every test order, so CI is deterministic; a failure
# prints the example to add as an `@example` regression case.
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.load_profile("deterministic")
