"""The Keras branch: TFX's Trainer runs `trainer.run_fn` (Keras), TFX's Evaluator blesses
the model with TFMA, TFX's Pusher writes it for TF Serving. `branch.create_branch` wires it."""
