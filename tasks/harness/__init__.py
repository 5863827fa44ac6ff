"""The training harness shared by every task: entry-point logic, run directories, checkpoints.

Tasks plug in through :class:`tasks.harness.module.TaskModule` and
:class:`tasks.harness.datamodule.TaskDataModule`; see ``docs/harness.md`` for the contract.
"""
