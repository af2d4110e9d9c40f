"""`python -m simulators …`: the simulators' own command line (also `medscribe sim …`)."""

from simulators.cli import app

if __name__ == "__main__":
    app()
