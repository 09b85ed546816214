"""What GitHub Actions presents when a job signs in to Azure with OIDC."""

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "api://AzureADTokenExchange"
# A repository as OWNER/NAME, as GitHub allows them.
REPOSITORY_PATTERN = r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$"
# A subject naming one environment of one repository: no branch, no wildcard.
SUBJECT_PATTERN = r"^repo:[A-Za-z0-9-]+/[A-Za-z0-9._-]+:environment:[^*\s]+$"


def subject(repository: str, environment: str) -> str:
    """The token subject of a job of ``repository`` (OWNER/NAME) in ``environment``."""
    return f"repo:{repository}:environment:{environment}"
