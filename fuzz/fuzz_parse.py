"""atheris: coverage-guided fuzzing of parse_line, field access and the ECS document of one record."""

import sys

import atheris

with atheris.instrument_imports(include=["auditproc", "targets"]):
    import targets


if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.parse_one)
    atheris.Fuzz()
