.PHONY: run test image
IMAGE ?= namegen:latest

run:   ## pipeline end-to-end on the default data, then ten names
	scripts/run.sh
test:  ## lint and the test suite
	scripts/test.sh
image: ## build and push the Kubeflow pipeline image: make image IMAGE=registry/namegen:tag
	docker build -t $(IMAGE) .
	docker push $(IMAGE)
