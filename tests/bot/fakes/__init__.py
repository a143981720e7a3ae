"""Local stand-ins for the Slack Web API, the Feishu Open API and a chat handler."""
