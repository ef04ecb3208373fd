"""The one send pipeline: claim → build → post → parse → record → transition, with its pace,
journal, crash recovery and the hand-written SQL of the hot writes."""
