"""The FQL trigger language: lexer, parser and compiled matchers."""
