"""Insights: what residents asked that Huimin could not answer (read from the tracker store), grouped, acted on
by editors; and residents' feedback on knowledge answers. Runs in the console process, never in Rasa."""
