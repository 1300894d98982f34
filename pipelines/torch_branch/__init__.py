"""The PyTorch branch: TFX's Trainer runs `trainer.run_fn`, which hands the data to a PyTorch
process (`runtime/`, which never imports TensorFlow); TorchEvaluator blesses the model with
TFMA on its predictions; TorchServePusher archives it as a .mar for TorchServe.
`branch.create_branch` wires it."""
