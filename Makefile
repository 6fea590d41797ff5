.PHONY: run test test-fast image
IMAGE ?= namegen:latest

run:   ## pipeline end-to-end on the default data, then ten names
	scripts/run.sh
test:  ## lint and the test suite
	scripts/test.sh
test-fast:  ## lint and the fast tier: every test not marked slow (no pipeline runs)
	scripts/test.sh -m "not slow"
image: ## build and push the Kubeflow pipeline image: make image IMAGE=registry/namegen:tag
	docker build -t $(IMAGE) .
	docker push $(IMAGE)
