"""Legal aid (法律援助): duty lawyers and their roster, bookable consultations, the consultation log,
legal-aid applications (法律援助法 2021) and their numbers."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="legal_aid",
    label="法律援助",
    version="0.1.0",
    description="值班律师排班与网上预约法律咨询、律师咨询台账、法律援助申请的受理补正、审查决定与指派。",
)
