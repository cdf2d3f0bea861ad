"""atheris: coverage-guided fuzzing of the whole ExecPipeline (parse, assemble, ECS, enrich) over many lines."""

import sys

import atheris

with atheris.instrument_imports(include=["auditproc", "targets"]):
    import targets


if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.pipeline)
    atheris.Fuzz()
