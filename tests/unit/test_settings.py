"""Settings as the environment gives them: a log level in any case, and a clear refusal of one that is not."""

import pytest
from pydantic import ValidationError

from paygate.settings import Settings


@pytest.mark.parametrize("given", ["info", "Info", "INFO"])
def test_a_log_level_is_taken_in_any_case(given: str) -> None:
    assert Settings(log_level=given, _env_file=None).log_level == "INFO"  # type: ignore[arg-type,call-arg]


def test_an_unknown_log_level_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="verbose", _env_file=None)  # type: ignore[arg-type,call-arg]
