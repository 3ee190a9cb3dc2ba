"""Video petition (视频信访): booked video receptions with leaders and departments, tied to a matter."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="video_petition",
    label="视频信访",
    version="0.1.0",
    description="领导视频接访日与部门视频接访：预约申请、身份核验、网上视频接访室（等候室）、电子笔录短信签名、经同意的录像。",
)
