"""The use cases every edge calls: check, preview, send, test-send, pause, cancel (`campaigns`);
starting work in the background (`background`: it imports `campaigns.tasks`, whose tasks call
`campaigns`, so it is not re-exported here); the composer's drafts and clones (`composer`);
recipient files uploaded there (`uploads`)."""

from campaigns.services.campaigns import (
    SAMPLE_RECIPIENT,
    CampaignNotRunnable,
    CampaignNotSendable,
    DryRun,
    campaign_cancel,
    campaign_check,
    campaign_checked,
    campaign_dry_run,
    campaign_give_up_retries,
    campaign_next_due,
    campaign_pause,
    campaign_preview,
    campaign_queueable,
    campaign_send,
    campaign_send_test,
    campaign_start,
    campaign_start_scheduled,
    campaign_unschedule,
    campaign_use_sender,
    content_preview,
    run_options,
    sending_config,
)

__all__ = [
    "SAMPLE_RECIPIENT",
    "CampaignNotRunnable",
    "CampaignNotSendable",
    "DryRun",
    "campaign_cancel",
    "campaign_check",
    "campaign_checked",
    "campaign_dry_run",
    "campaign_give_up_retries",
    "campaign_next_due",
    "campaign_pause",
    "campaign_preview",
    "campaign_queueable",
    "campaign_send",
    "campaign_send_test",
    "campaign_start",
    "campaign_start_scheduled",
    "campaign_unschedule",
    "campaign_use_sender",
    "content_preview",
    "run_options",
    "sending_config",
]
