.PHONY: run test
run:   ## pipeline end-to-end on the default data, then ten names
	scripts/run.sh
test:  ## lint and the test suite
	scripts/test.sh
