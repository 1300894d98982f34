# tandem's verbs. Everything runs through scripts/env, which sets the environment up
# on first use (natively on glibc >= 2.39 hosts, in a Debian 13 root on older ones).
ENV := scripts/env

.PHONY: demo test lint setup bench schema-draft shell clean

demo:          ## set up if needed, run both pipelines, write the comparison, serve both models and ask them
	$(ENV) run tandem run all
	$(ENV) run tandem compare
	$(ENV) run tandem serve tf && $(ENV) run tandem serve torch && $(ENV) run tandem query all; \
	  status=$$?; $(ENV) run tandem serve stop; exit $$status

test:          ## the test suite, two processes at a time (e2e modules that share a run stay together)
	$(ENV) run python -m pytest -n 2 --dist loadgroup

lint:          ## ruff on the Python code, shellcheck on the shell scripts
	$(ENV) run ruff check .
	$(ENV) run shellcheck scripts/env bin/tandem .ci/run

setup:         ## only build or update the environment
	$(ENV) setup

bench:         ## benchmarks that print measured ratios (tens of minutes)
	$(ENV) run python -m bench.ingest_validate
	$(ENV) run python -m bench.pipeline_vs_taxi_example
	$(ENV) run python -m bench.serving_latency --train
	$(ENV) run python -m bench.engine_throughput --rows 1000000
	$(ENV) run python -m bench.train_throughput --repeat 3

schema-draft:  ## a SchemaGen draft of the bundled data, to review against components/schema/
	$(ENV) run tandem schema draft --out schema-draft.pbtxt

shell:         ## a shell inside the environment
	$(ENV) shell

clean:         ## remove local pipeline outputs (not the cached environment)
	rm -rf tandem_home schema-draft.pbtxt
