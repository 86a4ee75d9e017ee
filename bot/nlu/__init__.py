"""Custom Rasa 3.6 graph components for Chinese NLU (normaliser, jieba tokenizer fix, knowledge-base entities).

Importing a component module registers it with Rasa's DefaultV1Recipe; config.yml names them by module path.
"""
