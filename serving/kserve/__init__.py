"""tandem's models behind KServe's Python model server (`kserve`), on TF Serving's REST API.

    models.py   SavedModelServer (the Keras branch's SavedModel, with TensorFlow) and
                TorchScriptServer (the PyTorch branch's .mar, with PyTorch): kserve.Model
                subclasses, load / preprocess / predict / postprocess
    server.py   start_tf / start_torch: a ModelServer in a process of its own, for `tandem serve`;
                `python -m serving.kserve.server tf|torch MODEL_PATH --name NAME --http-port N`

Both answer serving/contract.py's contract on KServe's V1 REST protocol, which is TF
Serving's REST predict API: POST /v1/models/NAME:predict {"instances": [...]} ->
{"predictions": [...]}; GET /v1/models/NAME says whether the model is ready.
"""
