"""Psychological counseling (心理咨询): confidential bookings with counselors, informed consent,
optional self-screening (PHQ-9 / GAD-7), the crisis path, session notes encrypted at rest,
supervision, retention, and anonymous monthly numbers.

The most sensitive data in the product (PIPL Art. 28: health information): nothing of it reaches
matters, the window's search, exports or dashboards other than anonymous counts.
"""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="counseling",
    label="心理咨询",
    version="0.1.0",
    description="心理咨询师预约（可匿名）、知情同意、自评量表、危机干预、加密咨询记录与督导、匿名统计。",
)
